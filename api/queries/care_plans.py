"""Reading care records: the care team, the care plan with its triggers, the care caseload."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from alerts.catalogue import load_catalogue
from alerts.thresholds import thresholds_for_patient
from api.deps import DbConn
from api.errors import not_found
from api.schemas.care_plans import CarePlanOut, ReviewOut, ScheduleItem, TriggerOut
from telehub.care.plan import describe_trigger, review_overdue
from telehub.domain import clock
from telehub.domain.codes import severity_rank

# Episodes whose rules are the care plan's "when to act" (not data quality or device rules).
TRIGGER_KINDS = frozenset({"band", "change", "daily-rise", "above-dry", "baseline-drop", "count"})
# Three months after enrolment (its date on the service's calendar) unless one is set.
REVIEW_DUE_SQL = ("coalesce(pc.review_due, (p.enrolled_at AT TIME ZONE %(zone)s)::date "
                  "+ INTERVAL '3 months')::date")
CARE_TEAM_SQL = """
SELECT %(pid)s::bigint AS patient_id, pc.*, s.display_name AS coordinator_name
FROM (SELECT 1) one
LEFT JOIN patient_care pc ON pc.patient_id = %(pid)s
LEFT JOIN staff s ON s.id = pc.coordinator_id
"""
ADVICE_SQL = "SELECT advice FROM patient_care WHERE patient_id = %s"
CARE_PLAN_SQL = f"""
SELECT p.display_id, p.care_plan, coalesce(pc.advice, '{{}}'::jsonb) AS advice,
       {REVIEW_DUE_SQL} AS review_due
FROM patients p LEFT JOIN patient_care pc ON pc.patient_id = p.id WHERE p.id = %(pid)s
"""  # noqa: S608 (constant fragments)
CARE_PATIENTS_SQL = f"""
SELECT p.id AS patient_id, p.display_id, p.given_name || ' ' || p.family_name AS name,
       p.team_id, p.status::text AS status, p.conditions, r1.score AS risk_score,
       r1.tier AS risk_tier, r1.scored_on AS risk_scored_on,
       coalesce(r1.score > r2.score, false) AS risk_rising,
       {REVIEW_DUE_SQL} AS review_due, s.display_name AS coordinator_name
FROM patients p
LEFT JOIN patient_care pc ON pc.patient_id = p.id
LEFT JOIN staff s ON s.id = pc.coordinator_id
LEFT JOIN LATERAL (SELECT score, tier, scored_on FROM risk_scores r WHERE r.patient_id = p.id
                   ORDER BY scored_on DESC LIMIT 1) r1 ON true
LEFT JOIN LATERAL (SELECT score FROM risk_scores r WHERE r.patient_id = p.id
                   ORDER BY scored_on DESC OFFSET 1 LIMIT 1) r2 ON true
WHERE p.status <> 'discharged'
  AND (%(team)s::bigint IS NULL OR p.team_id = %(team)s)
  AND (%(tier)s::text IS NULL OR r1.tier = lower(%(tier)s))
"""  # noqa: S608 (constant SQL fragments; every value is bound)
# The orderings `/care/patients?sort=` offers (constant SQL, chosen by key).
_SORTS = {"risk": "risk_score DESC NULLS LAST, display_id",
          "review": "review_due NULLS LAST, display_id", "name": "name, display_id"}


def load_care_team(conn: DbConn, patient_id: int) -> dict[str, Any]:
    """The patient's care-team row (defaults when none is recorded yet)."""
    row = conn.execute(CARE_TEAM_SQL, {"pid": patient_id}).fetchone()
    assert row is not None
    out = {k: v for k, v in row.items() if v is not None}
    out["patient_id"] = patient_id
    return out


def care_triggers(conn: DbConn, patient_id: int,
                  advice: Mapping[str, str] | None = None) -> list[TriggerOut]:
    """The "when to act" triggers of this patient: the amber and red rules their conditions,
    NEWS2 SpO2 scale and home oxygen select, in their own (individual) thresholds, each trigger
    once, red first, with the advice their care plan holds (read here unless given)."""
    catalogue = load_catalogue()
    if advice is None:
        row = conn.execute(ADVICE_SQL, (patient_id,)).fetchone()
        advice = {str(k): str(v) for k, v in ((row and row["advice"]) or {}).items()}
    place = {rule.id: i for i, rule in enumerate(catalogue.rules)}
    out: list[TriggerOut] = []
    for row in thresholds_for_patient(conn, patient_id):
        rule = catalogue.get(row["id"])
        if rule is None or not row["applies"] or rule.kind not in TRIGGER_KINDS \
                or rule.severity == "info" or _switched_off(rule.kind, row["effective"]):
            continue
        metric = rule.metric.value if rule.metric else None
        out.append(TriggerOut(
            episode=rule.episode, label=catalogue.episode_label(rule.episode),
            severity=rule.severity, rule_id=rule.id, metric=metric,
            when=describe_trigger(metric, rule.kind, row["effective"], rule.unit),
            individual=row["individual"] is not None, advice=advice.get(rule.episode)))
    out.sort(key=lambda t: (-severity_rank(t.severity), place[t.rule_id]))
    # Two rules may read the same in words (one limit at two severities): list it once, at
    # the worse severity, which the order puts first.
    unique: dict[str, TriggerOut] = {}
    for trigger in out:
        unique.setdefault(trigger.when, trigger)
    return list(unique.values())


def _switched_off(kind: str, params: Mapping[str, Any]) -> bool:
    """A rule its own parameters turn off: above-dry without a dry weight set."""
    return kind == "above-dry" and not params.get("dry_weight_kg")


def load_care_plan(conn: DbConn, patient_id: int, zone: ZoneInfo) -> CarePlanOut:
    """Schedule, triggers with advice, review dates."""
    row = conn.execute(
        CARE_PLAN_SQL, {"pid": patient_id, "zone": zone.key}).fetchone()
    if row is None:
        raise not_found("patient")
    advice = {str(k): str(v) for k, v in row["advice"].items()}
    schedule = [ScheduleItem(metric=m, per_day=min(24, int(s.get("per_day", 1))),
                             window=str(s["window"])[:40] if s.get("window") else None)
                for m, s in sorted(row["care_plan"].items())
                if isinstance(s, dict) and isinstance(s.get("per_day", 1), int | float)
                and s.get("per_day", 1) >= 1]
    reviews = conn.execute("SELECT id, reviewed_on, reviewer, note, next_due "
                           "FROM care_plan_reviews WHERE patient_id = %s "
                           "ORDER BY reviewed_on DESC, id DESC", (patient_id,)).fetchall()
    return CarePlanOut(patient_id=patient_id, display_id=row["display_id"], schedule=schedule,
                       triggers=care_triggers(conn, patient_id, advice), advice=advice,
                       review_due=row["review_due"],
                       review_overdue=review_overdue(row["review_due"], clock.today(zone)),
                       reviews=[ReviewOut.model_validate(r) for r in reviews])

