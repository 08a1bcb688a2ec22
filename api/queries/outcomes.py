"""Reading a team's outcome figures per month and its weekly MDT list."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from api.deps import DbConn
from api.queries.care_plans import REVIEW_DUE_SQL
from api.schemas.outcomes import OutcomeMonth
from telehub.care.plan import add_months, review_overdue
from telehub.domain import clock
from telehub.domain.codes import ResponderAction

# An amber or red alert this many days before an admission "preceded" it.
PRECEDING_DAYS = 14
READMISSION_DAYS = 30
# Staff actions that count as the first response to a red alert (system events do not).
ACTION_KINDS = ("acknowledged", "assigned", "escalated", "note", "resolved",
                *(a.value for a in ResponderAction
                  if a not in (ResponderAction.ACKNOWLEDGE, ResponderAction.RESOLVED)))
DEFINITIONS = {
    "monitored_patients": "Patients of the team enrolled before the month ended and not "
                          "discharged from monitoring before it began.",
    "admissions_per_1000": "Emergency admissions starting in the month per 1,000 monitored "
                           "patients.",
    "ae_per_1000": "A&E attendances in the month per 1,000 monitored patients.",
    "readmissions_30d": "Emergency admissions in the month starting within 30 days of the "
                        "same patient's discharge from an earlier emergency admission.",
    "admissions_preceded_by_alert": f"Emergency admissions in the month with an amber or red "
                                    f"alert in the {PRECEDING_DAYS} days up to the admission "
                                    "day; alerts_preceding_admissions counts those alerts.",
    "minutes_to_first_action": "For red alerts raised in the month: minutes from turning red "
                               "to the first action by a person (acknowledge, note, call, "
                               "visit, …); median and 90th percentile (nearest rank).",
    "months": "Calendar months on the service's calendar (its time zone, Europe/London).",
}
MONITORED_SQL = """
SELECT count(*) AS n FROM patients
WHERE team_id = %(team)s AND enrolled_at < %(end)s
  AND (discharged_at IS NULL OR discharged_at >= %(start)s)
"""
TEAM_EPISODES_SQL = """
SELECT e.id, e.patient_id, e.kind, e.started_on, e.discharged_on
FROM hospital_episodes e JOIN patients p ON p.id = e.patient_id
WHERE p.team_id = %s AND e.started_on < %s ORDER BY e.patient_id, e.started_on, e.id
"""
TEAM_ALERTS_SQL = """
SELECT a.id, a.patient_id, (a.first_breach_at AT TIME ZONE %s)::date AS day
FROM alerts a WHERE a.team_id = %s AND a.severity IN ('amber', 'red')
  AND a.first_breach_at >= %s AND a.first_breach_at < %s
"""
RED_RESPONSE_SQL = """
SELECT a.id, coalesce(
         (SELECT min(e.at) FROM alert_events e WHERE e.alert_id = a.id
            AND e.kind IN ('opened', 'severity-raised') AND e.data ->> 'severity' = 'red'),
         a.created_at) AS red_at,
       (SELECT min(e.at) FROM alert_events e WHERE e.alert_id = a.id
          AND e.actor_id IS NOT NULL AND e.kind = ANY(%s)) AS first_action
FROM alerts a WHERE a.team_id = %s AND a.severity = 'red'
  AND a.created_at >= %s AND a.created_at < %s
"""


def nearest_rank(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile (share 0–1) of `values`; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def team_outcomes(conn: DbConn, team_id: int, first: date, last: date,
                  zone: ZoneInfo) -> list[OutcomeMonth]:
    """Per calendar month from `first` to `last` (both the first of a month), local months."""
    def _utc(day: date) -> datetime:
        return clock.day_start(day, zone)

    months = []
    day = first
    while day <= last:
        months.append(day)
        day = add_months(day, 1)
    end = add_months(last, 1)
    episodes = conn.execute(TEAM_EPISODES_SQL, (team_id, end)).fetchall()
    window = (_utc(first - timedelta(PRECEDING_DAYS)), _utc(end))
    alerts = conn.execute(TEAM_ALERTS_SQL, (zone.key, team_id, *window)).fetchall()
    alerts_by_patient: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for a in alerts:
        alerts_by_patient[a["patient_id"]].append(a)
    admissions_by_patient: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for e in episodes:
        if e["kind"] == "emergency-admission":
            admissions_by_patient[e["patient_id"]].append(e)
    out = []
    for start in months:
        stop = add_months(start, 1)
        row = conn.execute(MONITORED_SQL, {"team": team_id, "start": _utc(start),
                                           "end": _utc(stop)}).fetchone()
        monitored = int(row["n"]) if row else 0
        in_month = [e for e in episodes if start <= e["started_on"] < stop]
        admissions = [e for e in in_month if e["kind"] == "emergency-admission"]
        readmissions = sum(1 for e in admissions if any(
            p["id"] != e["id"] and p["started_on"] < e["started_on"]
            and p["discharged_on"] is not None
            and 0 <= (e["started_on"] - p["discharged_on"]).days <= READMISSION_DAYS
            for p in admissions_by_patient[e["patient_id"]]))
        preceding: set[int] = set()
        preceded = 0
        for e in admissions:
            hits = {a["id"] for a in alerts_by_patient[e["patient_id"]]
                    if e["started_on"] - timedelta(PRECEDING_DAYS) <= a["day"] <= e["started_on"]}
            preceded += bool(hits)
            preceding |= hits
        red = conn.execute(RED_RESPONSE_SQL, (list(ACTION_KINDS), team_id, _utc(start),
                                              _utc(stop))).fetchall()
        minutes = [max(0.0, (r["first_action"] - r["red_at"]).total_seconds() / 60)
                   for r in red if r["first_action"] is not None]
        n_ae = sum(1 for e in in_month if e["kind"] == "ae-attendance")
        out.append(OutcomeMonth(
            month=start.strftime("%Y-%m"), monitored_patients=monitored,
            emergency_admissions=len(admissions), ae_attendances=n_ae,
            admissions_per_1000=_per_1000(len(admissions), monitored),
            ae_per_1000=_per_1000(n_ae, monitored), readmissions_30d=readmissions,
            admissions_preceded_by_alert=preceded, alerts_preceding_admissions=len(preceding),
            red_alerts=len(red), red_alerts_actioned=len(minutes),
            minutes_to_first_action_median=(round(statistics.median(minutes), 1)
                                            if minutes else None),
            minutes_to_first_action_p90=_round(nearest_rank(minutes, 0.9))))
    return out


def _per_1000(n: int, monitored: int) -> float | None:
    return round(n * 1000 / monitored, 1) if monitored else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


MDT_SQL = f"""
SELECT p.id, p.display_id, p.given_name || ' ' || p.family_name AS name,
       n.display_name AS named_nurse, {REVIEW_DUE_SQL} AS review_due,
       r1.tier AS risk_tier, r1.score AS risk_score, r2.score AS previous_score,
       (SELECT count(*) FROM alerts a WHERE a.patient_id = p.id AND a.severity = 'red'
          AND a.first_breach_at >= %(start)s AND a.first_breach_at < %(end)s)::int AS red_alerts,
       (SELECT count(*) FROM hospital_episodes e WHERE e.patient_id = p.id
          AND e.kind = 'emergency-admission'
          AND e.started_on BETWEEN %(first)s AND %(last)s)::int AS admissions,
       (SELECT count(*) FROM hospital_episodes e WHERE e.patient_id = p.id
          AND e.kind = 'ae-attendance'
          AND e.started_on BETWEEN %(first)s AND %(last)s)::int AS ae_attendances
FROM patients p
LEFT JOIN staff n ON n.id = p.named_nurse_id
LEFT JOIN patient_care pc ON pc.patient_id = p.id
LEFT JOIN LATERAL (SELECT score, tier FROM risk_scores r WHERE r.patient_id = p.id
                   AND r.scored_on <= %(last)s ORDER BY scored_on DESC LIMIT 1) r1 ON true
LEFT JOIN LATERAL (SELECT score FROM risk_scores r WHERE r.patient_id = p.id
                   AND r.scored_on <= %(last)s ORDER BY scored_on DESC OFFSET 1 LIMIT 1) r2
       ON true
WHERE p.team_id = %(team)s AND p.status <> 'discharged'
ORDER BY p.family_name, p.given_name, p.id
"""  # noqa: S608 (constant SQL fragments; every value is bound)
MDT_COLUMNS = ("display_id", "name", "named_nurse", "reasons", "red_alerts", "admissions",
               "ae_attendances", "review_due", "risk_tier", "risk_score")


def mdt_rows(conn: DbConn, team_id: int, week_ending: date,
             zone: ZoneInfo) -> list[dict[str, Any]]:
    """Patients for the weekly MDT: red alerts, admissions or A&E in the week, overdue care-plan
    review, or rising risk; each with the reasons in words."""
    first = week_ending - timedelta(days=6)
    rows = conn.execute(MDT_SQL, {"team": team_id, "first": first, "last": week_ending,
                                  "start": clock.day_start(first, zone),
                                  "end": clock.day_start(week_ending + timedelta(1), zone),
                                  "zone": zone.key}
                        ).fetchall()
    out = []
    for r in rows:
        reasons = []
        if r["red_alerts"]:
            reasons.append(f"{r['red_alerts']} red alert(s)")
        if r["admissions"]:
            reasons.append(f"{r['admissions']} emergency admission(s)")
        if r["ae_attendances"]:
            reasons.append(f"{r['ae_attendances']} A&E attendance(s)")
        if review_overdue(r["review_due"], week_ending):
            reasons.append(f"care-plan review overdue since {r['review_due']:%d %b %Y}")
        if r["previous_score"] is not None and r["risk_score"] > r["previous_score"]:
            reasons.append(f"risk rising {r['previous_score']:g} -> {r['risk_score']:g}")
        if reasons:
            out.append({**r, "reasons": "; ".join(reasons)})
    return out

