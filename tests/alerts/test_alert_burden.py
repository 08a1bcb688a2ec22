"""Alert burden: a simulated caseload of 200 patients over 30 days through the rules engine
and the scheduler, with nurses resolving the day's alerts at 17:00 (marked slow).

Prints alerts per 100 patient-days for each episode and each rule that set the severity.
Run: pytest tests/alerts/test_alert_burden.py -m slow -s
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from alerts.engine import evaluate
from alerts.scheduler import Scheduler
from telehub import registry
from telehub.config import Settings
from telehub.db import open_pool
from telehub.metrics import SPECS, Metric
from telehub.readings import StoredReading
from telehub.seed import plan_demo

COMMITS = True
PATIENTS = 200
DAYS = 30
END = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
START = END - timedelta(days=DAYS)


def _register(conn: psycopg.Connection
              ) -> tuple[list[Any], dict[str, tuple[int, int]], dict[int, str]]:
    plan = plan_demo(seed=2026, count=PATIENTS)
    team = registry.add_team(conn, "burden", "Burden Locality")
    devices: dict[str, tuple[int, int]] = {}
    scenarios: dict[int, str] = {}
    for p in plan:
        pid = registry.add_patient(conn, nhs_number=p.nhs_number, given_name="Sim",
                                   family_name=f"Patient {p.index}", birth_date=p.birth_date,
                                   team=team, conditions=p.conditions,
                                   care_plan=dict(p.simulation.schedule))
        scenarios[pid] = p.simulation.scenario
        conn.execute("UPDATE patients SET enrolled_at = %s, on_home_oxygen = %s WHERE id = %s",
                     (START, p.home_oxygen, pid))
        if p.spo2_scale == 2:
            conn.execute("INSERT INTO thresholds (patient_id, rule_id, params, reason, "
                         "set_by_name) VALUES (%s, 'spo2-scale', %s, 'Target 88-92 %%', "
                         "'matron')", (pid, Jsonb({"scale": 2})))
        for d in p.simulation.devices:
            devices[d.device_id] = (pid, registry.add_device(
                conn, device_id=d.device_id, kind=d.kind, patient=pid))
        conn.execute("UPDATE devices SET last_seen_at = %s, online = true WHERE patient_id = %s",
                     (END + timedelta(days=1), pid))   # device rules are not measured here
    return plan, devices, scenarios


def _store(conn: psycopg.Connection, items: list[Any], devices: dict[str, tuple[int, int]],
           now: datetime) -> list[StoredReading]:
    stored = []
    with conn.cursor() as cur, cur.copy(
            "COPY readings (time, patient_id, device_id, metric, value, unit, raw_value, "
            "raw_unit, reading_key, flags, received_at) FROM STDIN") as copy:
        for m in items:
            pid, dev = devices[m.device_id]
            flags = ["low-quality"] if m.low_quality else []
            pairs = [(m.metric, m.value)] + ([(Metric.PULSE, m.pulse)] if m.pulse else [])
            for metric, value in pairs:
                unit = SPECS[metric].canonical
                copy.write_row((m.time, pid, dev, metric.value, value, unit.value, value,
                                unit.value, f"{metric.value}-{m.time.isoformat()}", flags, now))
                stored.append(StoredReading(m.time, pid, dev, metric, value, unit, value, unit,
                                            now, tuple(flags)))
    return stored


@pytest.mark.slow
def test_alert_burden_of_a_simulated_caseload(conn: psycopg.Connection, settings: Settings
                                              ) -> None:
    from device_simulators.physiology import caseload_models, measurements_between
    from telehub.caseload import Caseload

    plan, devices, scenarios = _register(conn)
    conn.commit()
    models = caseload_models(Caseload(2026, tuple(p.simulation for p in plan)), END)
    readings = [m for m in measurements_between(models, START, END) if m.fault is None]
    pool = open_pool(settings.require_database_url(), max_size=2, name="burden")
    scheduler = Scheduler(settings, pool)
    step = timedelta(hours=1)
    t, k = START, 0
    try:
        while t < END:
            t += step
            batch = []
            while k < len(readings) and readings[k].time < t:
                batch.append(readings[k])
                k += 1
            evaluate(conn, _store(conn, batch, devices, t), now=t)
            conn.commit()
            scheduler.run_once(t)
            if t.hour == 17:      # the nurses close the day's alerts (17:00 UTC in winter)
                conn.execute("UPDATE alerts SET status = 'resolved', resolved_at = %s, "
                             "outcome = 'advice-given' WHERE status <> 'resolved'", (t,))
                conn.commit()
    finally:
        pool.close()
    rows = conn.execute("SELECT patient_id, rule_id, values ->> 'rule' AS rule, "
                        "severity::text AS sev FROM alerts").fetchall()
    patient_days = PATIENTS * DAYS
    by_episode = Counter((r["rule_id"], r["sev"]) for r in rows)
    by_rule = Counter(r["rule"] for r in rows)
    print(f"\n{len(readings)} readings, {len(rows)} alerts for {patient_days} patient-days "
          f"= {100 * len(rows) / patient_days:.2f} alerts per 100 patient-days")
    for (episode, sev), n in sorted(by_episode.items(), key=lambda x: -x[1]):
        print(f"  episode {episode:<26} {sev:<6} {n:>5}  {100 * n / patient_days:6.2f}")
    for rule, n in sorted(by_rule.items(), key=lambda x: -x[1]):
        print(f"  rule    {rule:<33} {n:>5}  {100 * n / patient_days:6.2f}")
    patients_in = Counter(scenarios.values())
    for scenario, n in sorted(Counter(scenarios[r["patient_id"]] for r in rows).items()):
        days = patients_in[scenario] * DAYS
        print(f"  scenario {scenario:<20} {patients_in[scenario]:>4} patients {n:>5} alerts "
              f"{100 * n / days:6.2f} per 100 patient-days")
    stable = [r for r in rows if scenarios[r["patient_id"]] == "stable"]
    print(f"  stable patients' alerts: {Counter((r['rule'], r['sev']) for r in stable)}")
    assert len(readings) > PATIENTS * DAYS
    assert 0 < len(rows) < patient_days / 2
