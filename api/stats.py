"""Team statistics: counts and rates only, nothing that identifies a patient."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api.deps import DbConn
from api.schemas import AckTime, OutcomeCount, RuleRate, TeamStatsOut

# Each patient's monitored days inside [start, end): from the earlier of enrolment and the
# first reading (history loaded from a device predates a registration made today) to
# discharge. Adherence: readings received per care-plan slot, capped at the plan's count per
# day so extra readings one day do not hide missing ones another (UTC days).
PATIENT_SQL = """
WITH began AS (
    SELECT p.id, p.care_plan, p.discharged_at,
           LEAST(p.enrolled_at, (
               SELECT min(f.time) FROM unnest(enum_range(NULL::metric)) AS m(metric)
               CROSS JOIN LATERAL (SELECT r.time FROM readings r
                                   WHERE r.patient_id = p.id AND r.metric = m.metric
                                   ORDER BY r.time LIMIT 1) AS f)) AS since
    FROM patients p
    WHERE p.team_id = %(team)s
),
monitored AS (
    SELECT b.id, b.care_plan, GREATEST(b.since, %(start)s) AS s,
           LEAST(COALESCE(b.discharged_at, %(end)s), %(end)s) AS e
    FROM began b
    WHERE b.since < %(end)s AND (b.discharged_at IS NULL OR b.discharged_at > %(start)s)
),
plan AS (
    SELECT m.id, m.s, m.e, kv.key AS metric, (kv.value->>'per_day')::numeric AS per_day
    FROM monitored m CROSS JOIN LATERAL jsonb_each(m.care_plan) AS kv
    WHERE jsonb_typeof(kv.value) = 'object' AND (kv.value->>'per_day') ~ '^[0-9]+$'
),
got AS (
    SELECT pl.id, pl.metric, LEAST(count(r.*), max(pl.per_day)) AS n
    FROM plan pl
    JOIN readings r ON r.patient_id = pl.id AND r.metric::text = pl.metric
                   AND r.time >= pl.s AND r.time < pl.e
    GROUP BY pl.id, pl.metric, date_trunc('day', r.time AT TIME ZONE 'UTC')
)
SELECT (SELECT count(*) FROM monitored) AS patients,
       (SELECT COALESCE(sum(EXTRACT(EPOCH FROM e - s)) / 86400.0, 0) FROM monitored) AS days,
       (SELECT COALESCE(round(sum(per_day * EXTRACT(EPOCH FROM e - s) / 86400.0)), 0)
          FROM plan) AS expected,
       (SELECT COALESCE(sum(n), 0) FROM got) AS received
"""

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


def team_stats(conn: DbConn, team_id: int, start: datetime, end: datetime) -> TeamStatsOut:
    """A team's monitoring figures over [start, end)."""
    params: dict[str, Any] = {"team": team_id, "start": start, "end": end}
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
