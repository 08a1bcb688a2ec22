"""The triaged caseload: one query for a whole team, sorted red, amber, overdue, the rest."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from psycopg.rows import tuple_row
from pydantic_core import from_json

from api.deps import DbConn
from api.render.caseload import CaseloadEntry, json_float, json_scalar, json_text, json_time
from api.schemas.caseload import CaseloadRow, Triage
from telehub.care.adherence import (
    CAPPED_RECEIVED,
    daily_readings,
    expected_readings,
    monitored_from,
)
from telehub.domain.clock import SERVICE_ZONE_NAME
from telehub.domain.codes import PatientStatus
from telehub.domain.patients import age_on
from telehub.domain.units import Metric

# A metric the care plan expects is overdue when nothing arrived for this long
# (one day covers once- and twice-daily plans without flagging every night).
OVERDUE_AFTER = timedelta(hours=24)
TREND_DAYS = 7  # the sparkline's days and adherence's window

# Every lookup below is an index range per patient and metric
# (readings_patient_metric_time_idx), so one round trip serves a 500-patient team. The
# readings index carries value, unit and flags (migration 0013): the latest values, the
# trend and adherence never visit the heap. Adherence is counted as the team statistics
# count it (telehub.care.adherence) over the last TREND_DAYS, or since monitoring began when
# that is later. Each patient comes back as the JSON text the API sends, around the fields
# computed in Python (api.render.caseload): building and serialising the nested lists in
# Python took over half as long again as the query.
_LATEST_ITEM = ("'{\"metric\":' || " + json_text("m.metric") + " || ',\"value\":' || "
                + json_float("l.value") + " || ',\"unit\":' || " + json_text("l.unit")
                + " || ',\"time\":' || " + json_time("l.time")
                + " || ',\"trend\":[' || COALESCE(t.trend, '') || ']}'")
_TREND_POINT = ("'{\"day\":\"' || to_char(daily.day, 'YYYY-MM-DD') || '\",\"mean\":' || "
                + json_float("daily.mean") + " || '}'")
_DEVICE = ("'{\"device_id\":' || " + json_text("d.device_id") + " || ',\"kind\":' || "
           + json_text("d.kind") + " || ',\"online\":' || " + json_scalar("d.online")
           + " || ',\"last_seen_at\":' || " + json_time("d.last_seen_at")
           + " || ',\"battery\":' || " + json_scalar("d.battery") + " || '}'")
_THRESHOLD = ("'{\"rule_id\":' || " + json_text("th.rule_id") + " || ',\"until\":' || "
              + json_time("th.ends_at") + " || '}'")
# CaseloadRow's fields up to named_nurse, the object left open (api.render.caseload).
_START = ("'{\"patient_id\":' || p.id || ',\"display_id\":' || " + json_text("p.display_id")
          + " || ',\"given_name\":' || " + json_text("p.given_name")
          + " || ',\"family_name\":' || " + json_text("p.family_name")
          + " || ',\"status\":' || " + json_text("p.status")
          + " || ',\"conditions\":' || array_to_json(p.conditions)::text"
          " || ',\"named_nurse_id\":' || " + json_scalar("p.named_nurse_id")
          + " || ',\"named_nurse\":' || " + json_text("s.display_name"))

CASELOAD_SQL = f"""
SELECT p.id AS patient_id, p.display_id, p.status::text AS status, p.care_plan::text,
       p.enrolled_at, p.birth_date,
       {expected_readings("p.care_plan", "w.since", "%(now)s")} AS adherence_expected,
       ml.received AS adherence_received,
       COALESCE(a.red, 0) AS red, COALESCE(a.amber, 0) AS amber, COALESCE(a.info, 0) AS info,
       a.oldest, ml.metrics, ml.times, ml.last_at, {_START} AS start_json,
       ',"last_reading_at":' || {json_time("ml.last_at")} || ',"latest":' || ml.latest_json
       || ',"devices":' || (
           SELECT '[' || COALESCE(string_agg({_DEVICE}, ',' ORDER BY d.device_id), '') || ']'
           FROM devices d WHERE d.patient_id = p.id AND d.active)
       || ',"temporary_thresholds":' || (
           SELECT '[' || COALESCE(string_agg({_THRESHOLD}, ','
                                             ORDER BY th.ends_at, th.rule_id), '') || ']'
           FROM thresholds th WHERE th.patient_id = p.id AND th.superseded_at IS NULL
            AND th.ends_at > %(now)s) || '}}' AS rest_json
FROM patients p
LEFT JOIN staff s ON s.id = p.named_nurse_id
-- Open alerts counted for the whole team at once.
LEFT JOIN (
    SELECT oa.patient_id,
           count(*) FILTER (WHERE oa.severity = 'red') AS red,
           count(*) FILTER (WHERE oa.severity = 'amber') AS amber,
           count(*) FILTER (WHERE oa.severity = 'info') AS info,
           min(oa.first_breach_at) FILTER (WHERE oa.severity = 'red'
                                           OR oa.severity = 'amber') AS oldest
    FROM alerts oa
    WHERE oa.status <> 'resolved'
      AND oa.patient_id IN (SELECT tp.id FROM patients tp WHERE tp.team_id = %(team)s)
    GROUP BY oa.patient_id) AS a ON a.patient_id = p.id
-- Per metric, the latest reading and the last 7 days by local day, read once for the
-- sparkline (daily means) and for adherence (daily counts). One index range per metric:
-- with the metric left open, the (patient, metric, time) index would walk every reading
-- the patient ever sent.
CROSS JOIN LATERAL (
    SELECT '[' || COALESCE(string_agg({_LATEST_ITEM}, ',' ORDER BY m.metric), '') || ']'
               AS latest_json,
           array_agg(m.metric::text ORDER BY m.metric) AS metrics,
           array_agg(l.time ORDER BY m.metric) AS times, max(l.time) AS last_at,
           COALESCE(sum(t.received), 0)::bigint AS received
    FROM unnest(enum_range(NULL::metric)) AS m(metric)
    CROSS JOIN LATERAL (
        SELECT r.value, r.unit, r.time FROM readings r
        WHERE r.patient_id = p.id AND r.metric = m.metric
        ORDER BY r.time DESC LIMIT 1) AS l
    LEFT JOIN (
        SELECT am.metric, string_agg({_TREND_POINT}, ',' ORDER BY daily.day) AS trend,
               {CAPPED_RECEIVED} AS received
        FROM {daily_readings("p.id", "p.care_plan", "%(trend_from)s", "%(now)s",
                             extra=", round(avg(ar.value)::numeric, 2)::float8 AS mean",
                             zone="%(zone)s")}
        GROUP BY am.metric) AS t ON t.metric = m.metric) AS ml
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
"""  # noqa: S608 (fragments from telehub.care.adherence and api.render.caseload; values bound)

_COLUMNS = ("patient_id", "display_id", "status", "care_plan", "enrolled_at", "birth_date",
            "adherence_expected", "adherence_received", "red", "amber", "info", "oldest",
            "metrics", "times", "last_at", "start_json", "rest_json")


def caseload_rows(conn: DbConn, team_id: int, nurse_id: int | None, now: datetime, *,
                  zone: tzinfo = UTC) -> list[CaseloadEntry]:
    """The team's (or named nurse's) monitored patients, most urgent first (ages on today's
    date in `zone`, the service's time zone): each row as the JSON text the query wrote and
    the few fields computed here, ready to send without building every patient's nested
    values in Python."""
    # The planner's cost for ~500 correlated index lookups passes jit_above_cost, and JIT
    # compiling then takes longer than the query itself (measured ~280 ms of ~570 ms).
    conn.execute("SET LOCAL jit = off")
    # Floats as their shortest round-trip digits, as pydantic-core writes them.
    conn.execute("SET LOCAL extra_float_digits = 1")
    cur = conn.cursor(row_factory=tuple_row)
    rows = cur.execute(CASELOAD_SQL, {"team": team_id, "nurse": nurse_id, "now": now,
                                      "trend_from": now - timedelta(days=TREND_DAYS),
                                      "zone": getattr(zone, "key", SERVICE_ZONE_NAME)}).fetchall()
    today = now.astimezone(zone).date()
    built = [_entry(dict(zip(_COLUMNS, r, strict=True)), now, today) for r in rows]
    built.sort(key=lambda pair: pair[1])
    return [entry for entry, _ in built]


def load_caseload(conn: DbConn, team_id: int, nurse_id: int | None, now: datetime, *,
                  zone: tzinfo = UTC) -> list[CaseloadRow]:
    """`caseload_rows` as validated models."""
    return [CaseloadRow.model_validate(row.fields())
            for row in caseload_rows(conn, team_id, nurse_id, now, zone=zone)]


_METRICS = {m.value: m for m in Metric}  # in Metric's order


def _entry(r: dict[str, Any], now: datetime, today: date
           ) -> tuple[CaseloadEntry, tuple[Any, ...]]:
    """One patient's row from the query's values, and its place in the caseload."""
    last = dict(zip(r["metrics"] or (), r["times"] or (), strict=True))
    overdue = _overdue(r, last, now)
    red, amber = int(r["red"]), int(r["amber"])
    if red:
        triage = Triage.RED
    elif amber:
        triage = Triage.AMBER
    elif overdue:
        triage = Triage.OVERDUE
    else:
        triage = Triage.OK
    computed = {
        "age": age_on(r["birth_date"], today),
        "adherence_7d": _share(r["adherence_received"], r["adherence_expected"]),
        "triage": triage, "open_alerts": {"red": red, "amber": amber, "info": int(r["info"])},
        "overdue_metrics": overdue,
    }
    entry = CaseloadEntry(r["patient_id"], r["start_json"], computed, r["rest_json"])
    return entry, _sort_key(computed, r, now)


def _share(received: int, expected: Decimal | None) -> float | None:
    """Received over expected, at most 1 (a window's part-days can hold a full day's
    readings each); None when the care plan expects nothing."""
    if not expected:
        return None
    return round(min(1.0, received / float(expected)), 4)


def _overdue(r: dict[str, Any], last: dict[str, datetime], now: datetime) -> list[Metric]:
    """Care-plan metrics with no reading for OVERDUE_AFTER (not while paused or in hospital),
    in metric order."""
    if PatientStatus(r["status"]) != PatientStatus.ACTIVE:
        return []
    plan = from_json(r["care_plan"]) or {}
    cutoff = now - OVERDUE_AFTER
    return [metric for name, metric in _METRICS.items()
            if name in plan and (plan[name] or {}).get("per_day")
            and (last.get(name) or r["enrolled_at"]) < cutoff]


_RANK = {Triage.RED: 0, Triage.AMBER: 1, Triage.OVERDUE: 2, Triage.OK: 3}


def _sort_key(row: dict[str, Any], r: dict[str, Any], now: datetime) -> tuple[Any, ...]:
    """Band first; inside a band, more urgent alerts and longer waits first."""
    oldest, last = r["oldest"], r["last_at"]
    waited = (now - oldest).total_seconds() if oldest else 0.0
    silent = (now - last).total_seconds() if last else 1e12
    triage, counts, display_id = row["triage"], row["open_alerts"], r["display_id"]
    if triage in (Triage.RED, Triage.AMBER):
        return (_RANK[triage], -counts["red"], -counts["amber"], -waited, display_id)
    if triage == Triage.OVERDUE:
        return (_RANK[triage], -len(row["overdue_metrics"]), -silent, 0, display_id)
    return (_RANK[triage], 0, 0, 0, display_id)
