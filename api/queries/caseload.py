"""The triaged caseload: one query for a whole team, sorted red, amber, overdue, the rest."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from psycopg.types.json import set_json_loads
from pydantic_core import from_json, to_json

from api.deps import DbConn
from api.schemas.caseload import CaseloadRow, Triage
from telehub.care.adherence import (
    CAPPED_RECEIVED,
    daily_readings,
    expected_readings,
    monitored_from,
)
from telehub.domain.clock import SERVICE_ZONE_NAME
from telehub.domain.codes import DeviceKind, PatientStatus
from telehub.domain.patients import age_on
from telehub.domain.units import Metric

# A metric the care plan expects is overdue when nothing arrived for this long
# (one day covers once- and twice-daily plans without flagging every night).
OVERDUE_AFTER = timedelta(hours=24)
TREND_DAYS = 7  # the sparkline's days and adherence's window

# Every correlated subquery below is an index lookup per patient
# (readings_patient_metric_time_idx, alerts_patient_idx, devices_patient_idx), so one
# round trip serves a 500-patient team. The readings index carries value, unit and flags
# (migration 0013): the latest values, the trend and adherence never visit the heap.
# Adherence is counted as the team statistics count it (telehub.care.adherence) over the
# last TREND_DAYS, or since monitoring began when that is later.
CASELOAD_SQL = f"""
SELECT p.id AS patient_id, p.display_id, p.given_name, p.family_name, p.status::text AS status,
       p.conditions, p.named_nurse_id, s.display_name AS named_nurse, p.care_plan,
       p.enrolled_at, p.paused_until, p.birth_date,
       {expected_readings("p.care_plan", "w.since", "%(now)s")} AS adherence_expected,
       tr.received AS adherence_received,
       (SELECT json_agg(json_build_object('metric', m.metric, 'value', l.value,
                                          'unit', l.unit, 'time', l.time))
          FROM unnest(enum_range(NULL::metric)) AS m(metric)
          CROSS JOIN LATERAL (
              SELECT r.value, r.unit::text AS unit, r.time FROM readings r
              WHERE r.patient_id = p.id AND r.metric = m.metric
              ORDER BY r.time DESC LIMIT 1) AS l) AS latest,
       tr.trend,
       (SELECT json_build_object(
                 'red', count(*) FILTER (WHERE a.severity = 'red'),
                 'amber', count(*) FILTER (WHERE a.severity = 'amber'),
                 'info', count(*) FILTER (WHERE a.severity = 'info'),
                 'oldest', min(a.first_breach_at) FILTER (WHERE a.severity = 'red'
                                                          OR a.severity = 'amber'))
          FROM alerts a WHERE a.patient_id = p.id AND a.status <> 'resolved') AS alerts,
       (SELECT json_agg(json_build_object('device_id', d.device_id, 'kind', d.kind,
                                          'online', d.online, 'last_seen_at', d.last_seen_at,
                                          'battery', d.battery) ORDER BY d.device_id)
          FROM devices d WHERE d.patient_id = p.id AND d.active) AS devices,
       (SELECT json_agg(json_build_object('rule_id', th.rule_id, 'until', th.ends_at)
                        ORDER BY th.ends_at, th.rule_id)
          FROM thresholds th WHERE th.patient_id = p.id AND th.superseded_at IS NULL
           AND th.ends_at > %(now)s) AS temporary_thresholds
FROM patients p
LEFT JOIN staff s ON s.id = p.named_nurse_id
-- The last 7 days per metric and UTC day, read once for the sparkline (daily means) and for
-- adherence (daily counts). One index range per metric: with the metric left open, the
-- (patient, metric, time) index would walk every reading the patient ever sent.
CROSS JOIN LATERAL (
    SELECT json_agg(json_build_object('metric', am.metric, 'day', daily.day,
                                      'mean', daily.mean) ORDER BY am.metric, daily.day) AS trend,
           {CAPPED_RECEIVED} AS received
    FROM {daily_readings("p.id", "p.care_plan", "%(trend_from)s", "%(now)s",
                         extra=", round(avg(ar.value)::numeric, 2)::float8 AS mean",
                         zone="%(zone)s")}) AS tr
-- Adherence's window starts 7 days ago, or when monitoring began if later (the first-reading
-- lookups only for patients enrolled inside the window; OFFSET 0 keeps the planner from
-- copying them into each use of w.since). No reading predates that start, so the trend's
-- 7 days hold exactly the readings adherence counts.
CROSS JOIN LATERAL (
    SELECT CASE WHEN p.enrolled_at <= %(trend_from)s THEN %(trend_from)s
                ELSE GREATEST(%(trend_from)s, {monitored_from("p")}) END AS since
    OFFSET 0) AS w
WHERE p.team_id = %(team)s AND p.status <> 'discharged'
  AND (%(nurse)s::bigint IS NULL OR p.named_nurse_id = %(nurse)s)
"""  # noqa: S608 (fragments from telehub.care.adherence; every value is bound)


def caseload_rows(conn: DbConn, team_id: int, nurse_id: int | None, now: datetime, *,
                  zone: tzinfo = UTC) -> list[dict[str, Any]]:
    """The team's (or named nurse's) monitored patients, most urgent first (ages on today's
    date in `zone`, the service's time zone), as `CaseloadRow`'s fields in its order with
    the values it holds (datetimes, floats, enums): ready to serialise without validating
    every patient's nested models again."""
    # The planner's cost for ~500 correlated index lookups passes jit_above_cost, and JIT
    # compiling then takes longer than the query itself (measured ~280 ms of ~570 ms).
    conn.execute("SET LOCAL jit = off")
    cur = conn.cursor()
    # ~1 MB of JSON for 500 patients: pydantic-core parses it several times faster than
    # the standard library.
    set_json_loads(from_json, cur)
    rows = cur.execute(CASELOAD_SQL, {"team": team_id, "nurse": nurse_id, "now": now,
                                      "trend_from": now - timedelta(days=TREND_DAYS),
                                      "zone": getattr(zone, "key", SERVICE_ZONE_NAME)}).fetchall()
    today = now.astimezone(zone).date()
    built = [(_fields(r, now, today), r) for r in rows]
    built.sort(key=lambda pair: _sort_key(pair[0], pair[1], now))
    return [row for row, _ in built]


def load_caseload(conn: DbConn, team_id: int, nurse_id: int | None, now: datetime, *,
                  zone: tzinfo = UTC) -> list[CaseloadRow]:
    """`caseload_rows` as validated models."""
    return [CaseloadRow.model_validate(row)
            for row in caseload_rows(conn, team_id, nurse_id, now, zone=zone)]


def caseload_json(team_id: int | None, nurse_id: int | None, now: datetime,
                  rows: list[dict[str, Any]]) -> bytes:
    """`CaseloadOut` as JSON, byte for byte what its `model_dump_json` gives for these rows
    (the same pydantic-core serialiser, fields in the models' order)."""
    return to_json({"team_id": team_id, "nurse_id": nurse_id, "generated_at": now,
                    "total": len(rows), "rows": rows})


_METRIC_ORDER = {m.value: i for i, m in enumerate(Metric)}
_METRICS = {m.value: m for m in Metric}


def _when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _fields(r: dict[str, Any], now: datetime, today: date) -> dict[str, Any]:
    """One patient's row as `CaseloadRow` holds it, from the query's plain values."""
    trends: dict[str, list[dict[str, Any]]] = {}
    for t in r["trend"] or []:
        # The day as PostgreSQL wrote it (YYYY-MM-DD) is how a date serialises.
        trends.setdefault(t["metric"], []).append({"day": t["day"], "mean": float(t["mean"])})
    latest = sorted(r["latest"] or [], key=lambda i: _METRIC_ORDER[i["metric"]])
    last = {i["metric"]: datetime.fromisoformat(i["time"]) for i in latest}
    counts = r["alerts"] or {}
    overdue = _overdue(r, last, now)
    if counts.get("red"):
        triage = Triage.RED
    elif counts.get("amber"):
        triage = Triage.AMBER
    elif overdue:
        triage = Triage.OVERDUE
    else:
        triage = Triage.OK
    return {
        "patient_id": r["patient_id"], "display_id": r["display_id"],
        "given_name": r["given_name"], "family_name": r["family_name"],
        "status": PatientStatus(r["status"]), "conditions": list(r["conditions"]),
        "named_nurse_id": r["named_nurse_id"], "named_nurse": r["named_nurse"],
        "age": age_on(r["birth_date"], today),
        "adherence_7d": _share(r["adherence_received"], r["adherence_expected"]),
        "triage": triage,
        "open_alerts": {k: int(counts.get(k) or 0) for k in ("red", "amber", "info")},
        "overdue_metrics": overdue, "last_reading_at": max(last.values(), default=None),
        "latest": [{"metric": _METRICS[i["metric"]], "value": float(i["value"]),
                    "unit": i["unit"], "time": last[i["metric"]],
                    "trend": trends.get(i["metric"], [])} for i in latest],
        "devices": [{"device_id": d["device_id"], "kind": DeviceKind(d["kind"]),
                     "online": d["online"], "last_seen_at": _when(d["last_seen_at"]),
                     "battery": d["battery"]} for d in r["devices"] or []],
        "temporary_thresholds": [{"rule_id": t["rule_id"], "until": _when(t["until"])}
                                 for t in r["temporary_thresholds"] or []],
    }


def _share(received: int, expected: Decimal | None) -> float | None:
    """Received over expected, at most 1 (a window's part-days can hold a full day's
    readings each); None when the care plan expects nothing."""
    if not expected:
        return None
    return round(min(1.0, received / float(expected)), 4)


def _overdue(r: dict[str, Any], last: dict[str, datetime], now: datetime) -> list[Metric]:
    """Care-plan metrics with no reading for OVERDUE_AFTER (not while paused or in hospital)."""
    if r["status"] != "active":
        return []
    out = []
    for metric, slot in (r["care_plan"] or {}).items():
        if metric not in _METRICS or not (slot or {}).get("per_day"):
            continue
        since = last.get(metric) or r["enrolled_at"]
        if now - since > OVERDUE_AFTER:
            out.append(_METRICS[metric])
    return sorted(out, key=lambda m: _METRIC_ORDER[m.value])


_RANK = {Triage.RED: 0, Triage.AMBER: 1, Triage.OVERDUE: 2, Triage.OK: 3}


def _sort_key(row: dict[str, Any], r: dict[str, Any], now: datetime) -> tuple[Any, ...]:
    """Band first; inside a band, more urgent alerts and longer waits first."""
    oldest = (r["alerts"] or {}).get("oldest")
    waited = (now - datetime.fromisoformat(oldest)).total_seconds() if oldest else 0.0
    last = row["last_reading_at"]
    silent = (now - last).total_seconds() if last else 1e12
    triage, counts = row["triage"], row["open_alerts"]
    if triage in (Triage.RED, Triage.AMBER):
        return (_RANK[triage], -counts["red"], -counts["amber"], -waited, row["display_id"])
    if triage == Triage.OVERDUE:
        return (_RANK[triage], -len(row["overdue_metrics"]), -silent, 0, row["display_id"])
    return (_RANK[triage], 0, 0, 0, row["display_id"])
