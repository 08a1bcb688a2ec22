"""Rule performance: per rule over a period, how often it fired, how often the team acted,
how fast it acknowledged, and the admissions it preceded; per patient, the rules that keep
firing without action, with a suggested individual threshold (alerts.suggestions)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from alerts.catalogue import load_catalogue
from alerts.suggestions import NOISY_ALERTS, NOISY_DAYS, suggest_threshold
from alerts.thresholds import load_subjects
from api.deps import DbConn
from api.queries.outcomes import PRECEDING_DAYS
from api.schemas.rule_performance import NoisyRuleOut, RulePerformanceOut, RuleRowOut
from telehub.domain import clock
from telehub.domain.codes import ACTION_OUTCOMES, NOISE_OUTCOMES

DEFINITIONS = {
    "alerts": "Alerts of the rule raised in the period (by when the alert was created).",
    "action": "Of those, resolved with an action: " + ", ".join(sorted(ACTION_OUTCOMES)) + ".",
    "noise": "Of those, resolved as noise: " + ", ".join(sorted(NOISE_OUTCOMES)) + ".",
    "action_share": "action / (action + noise); alerts still open and conditions that "
                    "cleared by themselves are left out of the share. None when no alert "
                    "was resolved either way.",
    "median_minutes_to_acknowledge": "Median minutes from an alert being raised to its "
                                     "acknowledgement, over the acknowledged alerts.",
    "admissions_preceded": f"Emergency admissions starting from the period's first to its "
                           f"last local day whose patient had an alert of this rule in the "
                           f"{PRECEDING_DAYS} days up to the admission day.",
    "suggestions": f"Per patient: a rule with at least {NOISY_ALERTS} alerts raised in the "
                   f"last {NOISY_DAYS} days, all resolved as noise and none with an action "
                   "(alerts before the last decision on it left out, a dismissal quiet for "
                   "a while). The suggested limit is one step past the most extreme reading "
                   "of those alerts, never crossing a more severe rule's limit; red rules "
                   "and rules without a limit get no number.",
}
# The rule an alert is counted under: the rule that set its severity (the hub keeps one
# alert per patient and episode, in `rule_id`, and names the rule in its values).
_RULE_ALERTS = """WITH rule_alerts AS (
    SELECT *, coalesce(values ->> 'rule', rule_id) AS rule FROM alerts)
"""
RULES_SQL = _RULE_ALERTS + """
SELECT a.rule AS rule_id, count(*)::int AS alerts,
       count(*) FILTER (WHERE a.outcome::text = ANY(%(action)s))::int AS action,
       count(*) FILTER (WHERE a.outcome::text = ANY(%(noise)s))::int AS noise,
       count(*) FILTER (WHERE a.status <> 'resolved')::int AS unresolved,
       count(a.acknowledged_at)::int AS acknowledged,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM a.acknowledged_at
                                                           - a.created_at) / 60.0)
           AS median_ack
FROM rule_alerts a
WHERE a.team_id = %(team)s AND a.created_at >= %(start)s AND a.created_at < %(end)s
GROUP BY a.rule
"""
PRECEDED_SQL = _RULE_ALERTS + """
SELECT a.rule AS rule_id, count(DISTINCT e.id)::int AS admissions
FROM hospital_episodes e
JOIN patients p ON p.id = e.patient_id
JOIN rule_alerts a ON a.patient_id = e.patient_id
 AND (a.first_breach_at AT TIME ZONE %(zone)s)::date
     BETWEEN e.started_on - %(days)s AND e.started_on
WHERE p.team_id = %(team)s AND e.kind = 'emergency-admission'
  AND e.started_on BETWEEN %(first)s AND %(last)s
GROUP BY a.rule
"""
NOISY_SQL = _RULE_ALERTS + """
SELECT a.patient_id, p.display_id, a.rule AS rule_id,
       count(*) FILTER (WHERE a.outcome::text = ANY(%(noise)s))::int AS noise,
       count(*) FILTER (WHERE a.outcome::text = ANY(%(action)s))::int AS action,
       array_remove(array_agg((a.values -> 'worst' ->> 'value')::float8)
                    FILTER (WHERE a.outcome::text = ANY(%(noise)s)), NULL) AS worst,
       max(a.created_at) AS last_alert
FROM rule_alerts a JOIN patients p ON p.id = a.patient_id
WHERE a.team_id = %(team)s AND a.created_at >= %(since)s AND a.created_at < %(now)s
  AND (%(patient)s::bigint IS NULL OR a.patient_id = %(patient)s)
  AND a.created_at > coalesce((SELECT max(d.decided_at) FROM threshold_suggestion_decisions d
                               WHERE d.patient_id = a.patient_id AND d.rule_id = a.rule),
                              '-infinity')
  AND NOT EXISTS (SELECT 1 FROM threshold_suggestion_decisions d
                  WHERE d.patient_id = a.patient_id AND d.rule_id = a.rule
                    AND d.decision = 'dismissed' AND d.quiet_until > %(now)s)
GROUP BY a.patient_id, p.display_id, a.rule
HAVING count(*) FILTER (WHERE a.outcome::text = ANY(%(noise)s)) >= %(min)s
   AND count(*) FILTER (WHERE a.outcome::text = ANY(%(action)s)) = 0
ORDER BY count(*) FILTER (WHERE a.outcome::text = ANY(%(noise)s)) DESC, a.patient_id, a.rule
"""  # noqa: S608 (constant SQL fragments; every value is bound)


def rule_performance(conn: DbConn, team_id: int, start: datetime, end: datetime,
                     zone: ZoneInfo) -> RulePerformanceOut:
    """Per rule over [start, end): alerts, action against noise, time to acknowledge and
    the emergency admissions it preceded."""
    params: dict[str, Any] = {"team": team_id, "start": start, "end": end,
                              "action": sorted(ACTION_OUTCOMES), "noise": sorted(NOISE_OUTCOMES),
                              "zone": zone.key, "days": PRECEDING_DAYS,
                              "first": clock.service_date(start, zone),
                              "last": clock.service_date(end - timedelta(microseconds=1), zone)}
    rows = {r["rule_id"]: r for r in conn.execute(RULES_SQL, params).fetchall()}
    preceded = {r["rule_id"]: r["admissions"] for r in conn.execute(PRECEDED_SQL, params)}
    out = []
    for rule_id in sorted(set(rows) | set(preceded)):
        r = rows.get(rule_id) or {"alerts": 0, "action": 0, "noise": 0, "unresolved": 0,
                                  "acknowledged": 0, "median_ack": None}
        decided = r["action"] + r["noise"]
        out.append(RuleRowOut(
            rule_id=rule_id, alerts=r["alerts"], action=r["action"], noise=r["noise"],
            unresolved=r["unresolved"], acknowledged=r["acknowledged"],
            action_share=round(r["action"] / decided, 4) if decided else None,
            median_minutes_to_acknowledge=(None if r["median_ack"] is None
                                           else round(float(r["median_ack"]), 1)),
            admissions_preceded=preceded.get(rule_id, 0)))
    out.sort(key=lambda x: (-x.alerts, x.rule_id))
    return RulePerformanceOut(team_id=team_id, start=start, end=end, rules=out,
                              definitions=DEFINITIONS)


def noisy_rules(conn: DbConn, team_id: int, now: datetime,
                patient_id: int | None = None) -> list[NoisyRuleOut]:
    """Patients' rules that fired at least NOISY_ALERTS times in NOISY_DAYS days with no
    action, each with its suggested individual threshold (or why there is none)."""
    rows = conn.execute(NOISY_SQL, {
        "team": team_id, "now": now, "since": now - timedelta(days=NOISY_DAYS),
        "patient": patient_id, "min": NOISY_ALERTS, "action": sorted(ACTION_OUTCOMES),
        "noise": sorted(NOISE_OUTCOMES)}).fetchall()
    catalogue = load_catalogue()
    subjects = load_subjects(conn, [r["patient_id"] for r in rows])
    out = []
    for r in rows:
        rule = catalogue.get(r["rule_id"])
        subject = subjects[r["patient_id"]]
        if rule is None:
            continue            # a rule no longer in the catalogue: nothing to tune
        s = suggest_threshold(rule, subject.params(rule), [float(v) for v in r["worst"]],
                              catalogue, subject.overrides)
        out.append(NoisyRuleOut(
            patient_id=r["patient_id"], display_id=r["display_id"], rule_id=r["rule_id"],
            alerts_without_action=r["noise"], last_alert_at=r["last_alert"],
            current=dict(s.current), suggested=dict(s.params) or None, unit=s.unit,
            explanation=s.explanation))
    return out
