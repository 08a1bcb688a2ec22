"""Team statistics: counts and rates only, nothing that identifies a patient.

Adherence counts each patient's readings received per metric and local day. Over a long
period most of those days are settled in the continuous aggregate readings_received_daily
(TimescaleDB, migration 0014): their counts are read from it, and the newest days, the
part-days at each patient's window edges and days with writes waiting for the next refresh
from the readings, as the daily chart does (api/queries/buckets.py). On plain PostgreSQL, or
in a zone other than the aggregate's, every day is counted from the readings. Both give the
same figures.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from api.deps import DbConn
from api.schemas.teams import AckTime, OutcomeCount, RuleRate, TeamStatsOut
from telehub.care.adherence import (
    RECEIVED_DAILY,
    RECEIVED_DAILY_ZONE,
    expected_readings,
    monitored_from,
    received_on_days,
    received_readings,
    settled_bounds,
)
from telehub.db.timescale import settled_days
from telehub.domain.clock import SERVICE_ZONE_NAME

logger = logging.getLogger(__name__)

# Each patient's monitored days inside [start, end): from when monitoring began (the earlier
# of enrolment and the first reading) to discharge. Adherence as telehub.care.adherence counts
# it; `adherence` is the CTEs (from `monitored m`) ending in one named adherence, which has
# each patient's expected and received readings.
def _patient_sql(adherence: str) -> str:
    return f"""
WITH began AS MATERIALIZED (   -- each first-reading lookup once, not again in `monitored`
    SELECT p.id, p.care_plan, p.discharged_at, {monitored_from("p")} AS since
    FROM patients p
    WHERE p.team_id = %(team)s
),
monitored AS (
    SELECT b.id, b.care_plan, GREATEST(b.since, %(start)s) AS s,
           LEAST(COALESCE(b.discharged_at, %(end)s), %(end)s) AS e
    FROM began b
    WHERE b.since < %(end)s AND (b.discharged_at IS NULL OR b.discharged_at > %(start)s)
),
{adherence}
SELECT (SELECT count(*) FROM monitored) AS patients,
       (SELECT COALESCE(sum(EXTRACT(EPOCH FROM e - s)) / 86400.0, 0) FROM monitored) AS days,
       (SELECT COALESCE(round(sum(expected)), 0) FROM adherence) AS expected,
       (SELECT COALESCE(sum(received), 0) FROM adherence) AS received
"""  # noqa: S608 (fragments from telehub.care.adherence; every value is bound)

_EXPECTED = expected_readings("m.care_plan", "m.s", "m.e")
# Every day from the readings.
PATIENT_SQL = _patient_sql(f"""adherence AS (
    SELECT {_EXPECTED} AS expected,
           {received_readings("m.id", "m.care_plan", "m.s", "m.e", zone="%(zone)s")}
           AS received
    FROM monitored m
)""")  # noqa: S608
# The whole days of [first, last) from readings_received_daily (one scan for the team), the
# part-days and other days from the readings; an empty part reads nothing (on a hypertable
# each lookup costs a walk over every chunk's index even for no rows).
_A, _B = settled_bounds("m.s", "m.e", "%(first)s", "%(last)s", zone="%(zone)s")
PATIENT_SETTLED_SQL = _patient_sql(f"""spans AS (
    SELECT m.id, m.care_plan, m.s, m.e, {_A} AS a, {_B} AS b FROM monitored m
),
on_days AS ({received_on_days("spans", "%(first)s", "%(last)s")}),
adherence AS (
    SELECT {_EXPECTED} AS expected,
           CASE WHEN m.s < m.a THEN {received_readings(
               "m.id", "m.care_plan", "m.s", "m.a", zone="%(zone)s")} ELSE 0 END
           + COALESCE(d.n, 0)
           + CASE WHEN m.b < m.e THEN {received_readings(
               "m.id", "m.care_plan", "m.b", "m.e", zone="%(zone)s")} ELSE 0 END
           AS received
    FROM spans m LEFT JOIN on_days d ON d.id = m.id
)""")  # noqa: S608

# The statistics query over a hypertable plans into every chunk, and PostgreSQL's JIT then
# compiles the plan's expressions: measured on TimescaleDB (1,000 patients, a year), JIT
# took 33 of the 37 s of the 90-day figure; without it the query takes a few seconds.
_NO_JIT = "SET LOCAL jit = off"

RULES_SQL = """
SELECT rule_id, count(*) AS alerts FROM alerts
WHERE team_id = %(team)s AND created_at >= %(start)s AND created_at < %(end)s
GROUP BY rule_id ORDER BY count(*) DESC, rule_id
"""

ACK_SQL = """
SELECT severity::text AS severity, count(*) AS acknowledged,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM acknowledged_at
                                                           - created_at) / 60.0) AS median,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM acknowledged_at
                                                           - created_at) / 60.0) AS p90
FROM alerts
WHERE team_id = %(team)s AND created_at >= %(start)s AND created_at < %(end)s
  AND acknowledged_at IS NOT NULL
GROUP BY severity ORDER BY severity DESC
"""

OUTCOMES_SQL = """
SELECT outcome::text AS outcome, count(*) AS alerts FROM alerts
WHERE team_id = %(team)s AND resolved_at >= %(start)s AND resolved_at < %(end)s
  AND outcome IS NOT NULL
GROUP BY outcome ORDER BY count(*) DESC, outcome
"""


def team_stats(conn: DbConn, team_id: int, start: datetime, end: datetime,
               zone: str = SERVICE_ZONE_NAME, *, from_aggregate: bool = True) -> TeamStatsOut:
    """A team's monitoring figures over [start, end), adherence on `zone`'s local days;
    the settled days from readings_received_daily where it has them, unless not
    `from_aggregate` (every day from the readings, as a comparison)."""
    return team_stats_over(conn, team_id, start, end, zone,
                           received_days(conn, start, end, zone) if from_aggregate else None)


def received_days(conn: DbConn, start: datetime, end: datetime, zone: str
                  ) -> tuple[datetime, datetime] | None:
    """[first, last): the local days of [start, end) readings_received_daily holds exactly;
    None on plain PostgreSQL, where it is a view computed from the readings when read, and
    in a zone other than the aggregate's."""
    if zone != RECEIVED_DAILY_ZONE:
        _zone_differs(zone)
        return None
    return settled_days(conn, RECEIVED_DAILY, start, end, ZoneInfo(zone))


def team_stats_over(conn: DbConn, team_id: int, start: datetime, end: datetime, zone: str,
                    settled: tuple[datetime, datetime] | None) -> TeamStatsOut:
    """team_stats with the days of `settled` (local midnights in `zone`, which must be
    RECEIVED_DAILY_ZONE) read from readings_received_daily; None: all from the readings."""
    params: dict[str, Any] = {"team": team_id, "start": start, "end": end, "zone": zone}
    if settled is not None and zone != RECEIVED_DAILY_ZONE:
        raise ValueError(f"{RECEIVED_DAILY} counts days in {RECEIVED_DAILY_ZONE}, not {zone}")
    with conn.transaction():   # SET LOCAL ends with it (or with the caller's transaction)
        conn.execute(_NO_JIT)
        if settled is None:
            base = conn.execute(PATIENT_SQL, params).fetchone()
        else:
            base = conn.execute(PATIENT_SETTLED_SQL, {**params, "first": settled[0],
                                                      "last": settled[1]}).fetchone()
    assert base is not None
    days = float(base["days"])
    expected, received = int(base["expected"]), int(base["received"])
    rules = [RuleRate(rule_id=r["rule_id"], alerts=r["alerts"],
                      per_100_patient_days=round(100.0 * r["alerts"] / days, 2) if days else 0.0)
             for r in conn.execute(RULES_SQL, params)]
    acks = [AckTime(severity=r["severity"], acknowledged=r["acknowledged"],
                    median_minutes=_round(r["median"]), p90_minutes=_round(r["p90"]))
            for r in conn.execute(ACK_SQL, params)]
    outcomes = [OutcomeCount(outcome=r["outcome"], alerts=r["alerts"])
                for r in conn.execute(OUTCOMES_SQL, params)]
    return TeamStatsOut(
        team_id=team_id, start=start, end=end, patients_monitored=base["patients"],
        patient_days=round(days, 2), expected_readings=expected, received_readings=received,
        adherence=round(received / expected, 4) if expected else None,
        alerts_by_rule=rules, time_to_acknowledge=acks, outcomes=outcomes)


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)


@functools.cache
def _zone_differs(zone: str) -> None:
    """Say once per process and zone why team statistics read every day's readings."""
    logger.warning("team statistics count every day from the readings: the service zone is "
                   "%s and %s counts days in %s", zone, RECEIVED_DAILY, RECEIVED_DAILY_ZONE)
