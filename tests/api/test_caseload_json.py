"""`GET /caseload` sends JSON that PostgreSQL wrote for each patient's nested lists, joined to
the fields Python computes, without validating any models: it must be byte for byte what
`CaseloadOut.model_dump_json()` gives for the same caseload (so every time, float and
string the query spells is spelled as pydantic-core spells it)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from api.queries.caseload import caseload_rows, load_caseload
from api.render.caseload import caseload_json
from api.schemas.caseload import CaseloadOut
from bench.history import insert_alerts, load_readings
from bench.population import register_population


def test_the_caseload_json_is_the_models_json(conn: psycopg.Connection[dict[str, Any]]
                                              ) -> None:
    now = datetime.now(UTC)
    population = register_population(conn, patients=40, team_size=40, prefix="json")
    load_readings(conn, population, days=9, as_of=now.date())
    insert_alerts(conn, population, as_of=now.date())
    first, second = population[0], population[1]
    conn.execute("UPDATE devices SET online = true, battery = 57, last_seen_at = %s "
                 "WHERE id = %s", (now - timedelta(minutes=3, microseconds=1234),
                                   first.oximeter_id))
    # A time with no microseconds is written without a fraction.
    seen_whole = (now - timedelta(days=2)).replace(microsecond=0)
    conn.execute("UPDATE devices SET online = false, last_seen_at = %s WHERE id = %s",
                 (seen_whole, second.scale_id))
    for rule, ends in (("spo2-red", now + timedelta(days=3, microseconds=10)),
                       ("pulse-red", (now + timedelta(days=1)).replace(microsecond=0))):
        conn.execute("INSERT INTO thresholds (patient_id, rule_id, params, reason, set_by_name,"
                     " ends_at) VALUES (%s, %s, '{}', 'after a chest infection', 'matron', %s)",
                     (first.id, rule, ends))
    conn.execute("UPDATE patients SET status = 'paused' WHERE id = %s", (second.id,))
    # Names the query spells as JSON strings: quotes, backslashes, control and non-ASCII
    # characters are escaped (or not) as pydantic-core escapes them.
    awkward = 'Zo\u00eb "Jo" \\ O\'Neil\t\u0001\u2028\u00a0'
    conn.execute("UPDATE patients SET given_name = %s, conditions = '{}' WHERE id = %s",
                 (awkward, second.id))
    conn.execute("INSERT INTO readings (time, patient_id, device_id, metric, value, unit, "
                 "raw_value, raw_unit, reading_key, received_at) VALUES "
                 "(%s, %s, %s, 'spo2', 91, '%%', 91, '%%', 'whole', %s)",
                 (now - timedelta(minutes=1), first.id, first.oximeter_id, now))
    # A metric last read before the week the trend covers: its latest value, with no trend.
    old = (now - timedelta(days=20)).replace(microsecond=0)
    conn.execute("INSERT INTO readings (time, patient_id, device_id, metric, value, unit, "
                 "raw_value, raw_unit, reading_key, received_at) VALUES "
                 "(%s, %s, %s, 'glucose', 6.5, 'mmol/L', 6.5, 'mmol/L', 'old', %s)",
                 (old, second.id, second.scale_id, old))
    conn.commit()
    team = first.team_id

    rows = caseload_rows(conn, team, None, now)
    body = caseload_json(team, None, now, rows)
    models = load_caseload(conn, team, None, now)
    expected = CaseloadOut(team_id=team, nurse_id=None, generated_at=now, total=len(models),
                           rows=models).model_dump_json().encode()
    assert body == expected
    decoded = json.loads(body)
    assert decoded["total"] == 40
    assert {r["triage"] for r in decoded["rows"]} >= {"red", "ok"}
    row = next(r for r in decoded["rows"] if r["patient_id"] == first.id)
    assert row["latest"][0]["metric"] == "weight" and row["latest"][0]["trend"]
    spo2 = next(m for m in row["latest"] if m["metric"] == "spo2")
    assert spo2["value"] == 91.0 and isinstance(spo2["value"], float)
    assert any(d["battery"] == 57 and d["online"] for d in row["devices"])
    assert [t["rule_id"] for t in row["temporary_thresholds"]] == ["pulse-red", "spo2-red"]
    assert b'"value":91.0,' in body
    paused = next(r for r in decoded["rows"] if r["patient_id"] == second.id)
    assert (paused["given_name"], paused["conditions"]) == (awkward, [])
    assert {"metric": "glucose", "value": 6.5, "unit": "mmol/L",
            "time": f"{old:%Y-%m-%dT%H:%M:%S}Z", "trend": []} in paused["latest"]
    scale = next(d for d in paused["devices"] if d["kind"] == "scale")
    assert scale["last_seen_at"] == f"{seen_whole:%Y-%m-%dT%H:%M:%S}Z"
