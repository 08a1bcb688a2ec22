"""Team statistics: counts and rates only, nothing that identifies a patient."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api.deps import DbConn
from api.schemas.teams import AckTime, OutcomeCount, RuleRate, TeamStatsOut
from telehub.care.adherence import expected_readings, monitored_from, received_readings
from telehub.domain.clock import SERVICE_ZONE_NAME

# Each patient's monitored days inside [start, end): from when monitoring began (the earlier
# of enrolment and the first reading) to discharge. Adherence as telehub.care.adherence counts it.
PATIENT_SQL = f"""
WITH began AS (
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
adherence AS (
    SELECT {expected_readings("m.care_plan", "m.s", "m.e")} AS expected,
           {received_readings("m.id", "m.care_plan", "m.s", "m.e", zone="%(zone)s")} AS received
    FROM monitored m
)
SELECT (SELECT count(*) FROM monitored) AS patients,
       (SELECT COALESCE(sum(EXTRACT(EPOCH FROM e - s)) / 86400.0, 0) FROM monitored) AS days,
       (SELECT COALESCE(round(sum(expected)), 0) FROM adherence) AS expected,
       (SELECT COALESCE(sum(received), 0) FROM adherence) AS received
"""  # noqa: S608 (fragments from telehub.care.adherence; every value is bound)

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
               zone: str = SERVICE_ZONE_NAME) -> TeamStatsOut:
    """A team's monitoring figures over [start, end), adherence on `zone`'s local days."""
    params: dict[str, Any] = {"team": team_id, "start": start, "end": end, "zone": zone}
    base = conn.execute(PATIENT_SQL, params).fetchone()
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
