"""Care coordination routes: the people around the patient, the care plan (with its printable
page and review dates), risk tiers imported from CSV, and the care caseload by risk."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from psycopg.types.json import Jsonb

from alerts.catalogue import load_catalogue
from alerts.thresholds import thresholds_for_patient
from api.access import audit, check_patient, team_visible
from api.care_schemas import (
    CarePatientOut,
    CarePlanIn,
    CarePlanOut,
    CareTeamIn,
    CareTeamOut,
    ContactIn,
    ContactOut,
    ImportResultOut,
    ReviewIn,
    ReviewOut,
    RiskScoreOut,
    RowError,
    ScheduleItem,
    TriggerOut,
)
from api.deps import Clinical, Conn, DbConn, Staff, client_addr
from api.errors import ApiError, not_found
from api.schemas import Problem
from telehub.care import plans as care
from telehub.domain.units import parse_metric

router = APIRouter(tags=["care"], responses={401: {"model": Problem}, 404: {"model": Problem}})

# Episodes whose rules are the care plan's "when to act" (not data quality or device rules).
TRIGGER_KINDS = frozenset({"band", "change", "daily-rise", "above-dry", "baseline-drop", "count"})
REVIEW_DUE_SQL = ("coalesce(pc.review_due, (p.enrolled_at AT TIME ZONE 'UTC')::date "
                  "+ INTERVAL '3 months')::date")
CARE_TEAM_SQL = """
SELECT %(pid)s::bigint AS patient_id, pc.*, s.display_name AS coordinator_name
FROM (SELECT 1) one
LEFT JOIN patient_care pc ON pc.patient_id = %(pid)s
LEFT JOIN staff s ON s.id = pc.coordinator_id
"""
UPSERT_CARE_TEAM_SQL = """
INSERT INTO patient_care (patient_id, gp_name, gp_practice, gp_phone, coordinator_id,
    coordinator_role, spa_phone, key_safe_note, access_note, advance_decision,
    advance_decision_note, consent_monitoring, consent_sharing, consent_on, consent_taken_by,
    enrolment_conditions, enrolment_risk, enrolment_judgement, enrolment_note, updated_by)
VALUES (%(patient_id)s, %(gp_name)s, %(gp_practice)s, %(gp_phone)s, %(coordinator_id)s,
    %(coordinator_role)s, %(spa_phone)s, %(key_safe_note)s, %(access_note)s,
    %(advance_decision)s, %(advance_decision_note)s, %(consent_monitoring)s,
    %(consent_sharing)s, %(consent_on)s, %(consent_taken_by)s, %(enrolment_conditions)s,
    %(enrolment_risk)s, %(enrolment_judgement)s, %(enrolment_note)s, %(updated_by)s)
ON CONFLICT (patient_id) DO UPDATE SET gp_name = excluded.gp_name,
    gp_practice = excluded.gp_practice, gp_phone = excluded.gp_phone,
    coordinator_id = excluded.coordinator_id, coordinator_role = excluded.coordinator_role,
    spa_phone = excluded.spa_phone, key_safe_note = excluded.key_safe_note,
    access_note = excluded.access_note, advance_decision = excluded.advance_decision,
    advance_decision_note = excluded.advance_decision_note,
    consent_monitoring = excluded.consent_monitoring, consent_sharing = excluded.consent_sharing,
    consent_on = excluded.consent_on, consent_taken_by = excluded.consent_taken_by,
    enrolment_conditions = excluded.enrolment_conditions,
    enrolment_risk = excluded.enrolment_risk, enrolment_judgement = excluded.enrolment_judgement,
    enrolment_note = excluded.enrolment_note, updated_by = excluded.updated_by,
    updated_at = now()
"""
CONTACT_COLUMNS = ("id, patient_id, name, relationship, phone, email, next_of_kin, "
                   "notify_alerts, created_at, removed_at")
ADD_CONTACT_SQL = f"""
INSERT INTO patient_contacts (patient_id, name, relationship, phone, email, next_of_kin,
                              notify_alerts)
VALUES (%(p)s, %(name)s, %(relationship)s, %(phone)s, %(email)s, %(next_of_kin)s,
        %(notify_alerts)s)
RETURNING {CONTACT_COLUMNS}
"""  # noqa: S608 (constant columns)
UPDATE_CONTACT_SQL = f"""
UPDATE patient_contacts SET name = %(name)s, relationship = %(relationship)s, phone = %(phone)s,
       email = %(email)s, next_of_kin = %(next_of_kin)s, notify_alerts = %(notify_alerts)s
WHERE id = %(id)s AND patient_id = %(p)s AND removed_at IS NULL
RETURNING {CONTACT_COLUMNS}
"""  # noqa: S608 (constant columns)
REMOVE_CONTACT_SQL = f"""
UPDATE patient_contacts SET removed_at = now()
WHERE id = %s AND patient_id = %s AND removed_at IS NULL
RETURNING {CONTACT_COLUMNS}
"""  # noqa: S608 (constant columns)
CARE_PLAN_SQL = f"""
SELECT p.display_id, p.care_plan, coalesce(pc.advice, '{{}}'::jsonb) AS advice,
       {REVIEW_DUE_SQL} AS review_due
FROM patients p LEFT JOIN patient_care pc ON pc.patient_id = p.id WHERE p.id = %s
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
_SORTS = {"risk": "risk_score DESC NULLS LAST, display_id",
          "review": "review_due NULLS LAST, display_id", "name": "name, display_id"}


def _scope_team(staff: Staff, team_id: int | None) -> int | None:
    """The team to list: the caller's own unless they span teams."""
    if staff.spans_teams:
        return team_id
    if team_id is not None and team_id != staff.team_id:
        raise not_found("team")
    return staff.team_id


def _today() -> date:
    return datetime.now(UTC).date()


# --- people around the patient ----------------------------------------------------------------

def load_care_team(conn: DbConn, patient_id: int) -> dict[str, Any]:
    """The patient's care-team row (defaults when none is recorded yet)."""
    row = conn.execute(CARE_TEAM_SQL, {"pid": patient_id}).fetchone()
    assert row is not None
    out = {k: v for k, v in row.items() if v is not None}
    out["patient_id"] = patient_id
    return out


@router.get("/patients/{patient_id}/care-team", response_model=CareTeamOut,
            summary="The people around the patient")
def get_care_team(patient_id: int, staff: Clinical, conn: Conn, request: Request) -> CareTeamOut:
    """GP, care coordinator, single point of access, access notes, advance decisions,
    consent and enrolment criteria."""
    check_patient(conn, staff, patient_id)
    out = CareTeamOut.model_validate(load_care_team(conn, patient_id))
    audit(conn, staff, "read", "care-team", patient_id, client_addr(request))
    conn.commit()
    return out


@router.put("/patients/{patient_id}/care-team", response_model=CareTeamOut,
            summary="Record the people around the patient", responses={422: {"model": Problem}})
def put_care_team(patient_id: int, body: CareTeamIn, staff: Clinical, conn: Conn,
                  request: Request) -> CareTeamOut:
    """Replace the care-team record (consent needs its date and who took it)."""
    team = check_patient(conn, staff, patient_id)
    if body.coordinator_id is not None and conn.execute(
            "SELECT 1 FROM staff WHERE id = %s AND active AND team_id = %s",
            (body.coordinator_id, team)).fetchone() is None:
        raise ApiError(422, "The care coordinator must be an active member of the patient's "
                       "team.", "bad-coordinator")
    consent_given = body.consent_monitoring is not None or body.consent_sharing is not None
    if consent_given and (body.consent_on is None or not body.consent_taken_by):
        raise ApiError(422, "Record consent with its date (consent_on) and who took it "
                       "(consent_taken_by).", "consent-incomplete")
    if body.consent_on is not None and body.consent_on > _today():
        raise ApiError(422, "consent_on is in the future.", "bad-consent-date")
    conn.execute(UPSERT_CARE_TEAM_SQL, {**body.model_dump(), "patient_id": patient_id,
                                        "updated_by": staff.username})
    audit(conn, staff, "update", "care-team", patient_id, client_addr(request),
          {"fields": sorted(body.model_dump(exclude_unset=True))})
    out = CareTeamOut.model_validate(load_care_team(conn, patient_id))
    conn.commit()
    return out


@router.get("/patients/{patient_id}/contacts", response_model=list[ContactOut],
            summary="Carers and next of kin")
def list_contacts(patient_id: int, staff: Clinical, conn: Conn, request: Request,
                  include_removed: bool = False) -> list[ContactOut]:
    """The patient's carers and next of kin (current ones unless asked)."""
    check_patient(conn, staff, patient_id)
    rows = conn.execute(f"SELECT {CONTACT_COLUMNS} FROM patient_contacts "  # noqa: S608
                        "WHERE patient_id = %s AND (%s OR removed_at IS NULL) ORDER BY id",
                        (patient_id, include_removed)).fetchall()
    audit(conn, staff, "read", "contacts", patient_id, client_addr(request))
    conn.commit()
    return [ContactOut.model_validate(r) for r in rows]


@router.post("/patients/{patient_id}/contacts", response_model=ContactOut, status_code=201,
             summary="Add a carer or next of kin", responses={422: {"model": Problem}})
def add_contact(patient_id: int, body: ContactIn, staff: Clinical, conn: Conn,
                request: Request) -> ContactOut:
    """Add a carer or next of kin, with whether they want alert notifications."""
    check_patient(conn, staff, patient_id)
    row = conn.execute(
        ADD_CONTACT_SQL,
        {**body.model_dump(), "p": patient_id}).fetchone()
    assert row is not None
    audit(conn, staff, "create", "contact", patient_id, client_addr(request),
          {"contact_id": row["id"]})
    conn.commit()
    return ContactOut.model_validate(row)


@router.put("/patients/{patient_id}/contacts/{contact_id}", response_model=ContactOut,
            summary="Change a carer or next of kin", responses={422: {"model": Problem}})
def update_contact(patient_id: int, contact_id: int, body: ContactIn, staff: Clinical,
                   conn: Conn, request: Request) -> ContactOut:
    """Replace a contact's details."""
    check_patient(conn, staff, patient_id)
    row = conn.execute(
        UPDATE_CONTACT_SQL,
        {**body.model_dump(), "id": contact_id, "p": patient_id}).fetchone()
    if row is None:
        raise not_found("contact")
    audit(conn, staff, "update", "contact", patient_id, client_addr(request),
          {"contact_id": contact_id})
    conn.commit()
    return ContactOut.model_validate(row)


@router.post("/patients/{patient_id}/contacts/{contact_id}/remove", response_model=ContactOut,
             summary="Remove a carer or next of kin (kept as history)")
def remove_contact(patient_id: int, contact_id: int, staff: Clinical, conn: Conn,
                   request: Request) -> ContactOut:
    """Mark a contact removed; the record stays."""
    check_patient(conn, staff, patient_id)
    row = conn.execute(
        REMOVE_CONTACT_SQL,
        (contact_id, patient_id)).fetchone()
    if row is None:
        raise not_found("contact")
    audit(conn, staff, "remove", "contact", patient_id, client_addr(request),
          {"contact_id": contact_id})
    conn.commit()
    return ContactOut.model_validate(row)


# --- care plan ---------------------------------------------------------------------------------

def care_triggers(conn: DbConn, patient_id: int, advice: dict[str, str]) -> list[TriggerOut]:
    """The patient's amber and red triggers with their effective (individual) thresholds."""
    catalogue = load_catalogue()
    out = []
    for row in thresholds_for_patient(conn, patient_id):
        rule = catalogue.get(row["id"])
        if rule is None or not row["applies"] or rule.kind not in TRIGGER_KINDS \
                or rule.severity == "info":
            continue
        out.append(TriggerOut(
            episode=rule.episode, label=catalogue.episode_label(rule.episode),
            severity=rule.severity, rule_id=rule.id,
            metric=rule.metric.value if rule.metric else None,
            when=care.describe_trigger(rule.metric.value if rule.metric else None, rule.kind,
                                       row["effective"], rule.unit),
            individual=row["individual"] is not None, advice=advice.get(rule.episode)))
    out.sort(key=lambda t: (t.metric or "", 0 if t.severity == "red" else 1, t.rule_id))
    return out


def load_care_plan(conn: DbConn, patient_id: int) -> CarePlanOut:
    """Schedule, triggers with advice, review dates."""
    row = conn.execute(
        CARE_PLAN_SQL,
        (patient_id,)).fetchone()
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
                       review_overdue=care.review_overdue(row["review_due"], _today()),
                       reviews=[ReviewOut.model_validate(r) for r in reviews])


@router.get("/patients/{patient_id}/care-plan", response_model=CarePlanOut,
            summary="The care plan: schedule, when to act, advice, review")
def get_care_plan(patient_id: int, staff: Clinical, conn: Conn, request: Request) -> CarePlanOut:
    """The measurement schedule, each trigger in words with the advice, and review dates."""
    check_patient(conn, staff, patient_id)
    out = load_care_plan(conn, patient_id)
    audit(conn, staff, "read", "care-plan", patient_id, client_addr(request))
    conn.commit()
    return out


@router.put("/patients/{patient_id}/care-plan", response_model=CarePlanOut,
            summary="Change the schedule, advice or review date",
            responses={422: {"model": Problem}})
def put_care_plan(patient_id: int, body: CarePlanIn, staff: Clinical, conn: Conn,
                  request: Request) -> CarePlanOut:
    """Fields left out are kept; advice merges per episode (empty text removes it)."""
    check_patient(conn, staff, patient_id)
    conn.execute("INSERT INTO patient_care (patient_id, updated_by) VALUES (%s, %s) "
                 "ON CONFLICT (patient_id) DO NOTHING", (patient_id, staff.username))
    if body.schedule is not None:
        plan: dict[str, Any] = {}
        for item in body.schedule:
            metric = parse_metric(item.metric).value
            plan[metric] = {"per_day": item.per_day, **({"window": item.window}
                                                        if item.window else {})}
        conn.execute("UPDATE patients SET care_plan = %s, updated_at = now() WHERE id = %s",
                     (Jsonb(plan), patient_id))
    if body.advice is not None:
        episodes = load_catalogue().episodes
        unknown = sorted(k for k in body.advice if k not in episodes)
        if unknown:
            raise ApiError(422, f"No such episode: {', '.join(unknown)}.", "bad-episode")
        row = conn.execute("SELECT advice FROM patient_care WHERE patient_id = %s",
                           (patient_id,)).fetchone()
        assert row is not None
        advice = {**row["advice"], **{k: v.strip() for k, v in body.advice.items()}}
        advice = {k: v[:1000] for k, v in advice.items() if v}
        conn.execute("UPDATE patient_care SET advice = %s, updated_at = now(), "
                     "updated_by = %s WHERE patient_id = %s",
                     (Jsonb(advice), staff.username, patient_id))
    if body.review_due is not None:
        conn.execute("UPDATE patient_care SET review_due = %s, updated_at = now(), "
                     "updated_by = %s WHERE patient_id = %s",
                     (body.review_due, staff.username, patient_id))
    audit(conn, staff, "update", "care-plan", patient_id, client_addr(request),
          {"fields": sorted(body.model_dump(exclude_unset=True))})
    out = load_care_plan(conn, patient_id)
    conn.commit()
    return out


@router.post("/patients/{patient_id}/care-plan/reviews", response_model=CarePlanOut,
             status_code=201, summary="Record a care-plan review",
             responses={422: {"model": Problem}})
def review_care_plan(patient_id: int, body: ReviewIn, staff: Clinical, conn: Conn,
                     request: Request) -> CarePlanOut:
    """Record a review; the next falls due in three months unless next_due says otherwise."""
    check_patient(conn, staff, patient_id)
    reviewed_on = body.reviewed_on or _today()
    if reviewed_on > _today():
        raise ApiError(422, "reviewed_on is in the future.", "bad-review-date")
    next_due = body.next_due or care.next_review_due(reviewed_on)
    if next_due <= reviewed_on:
        raise ApiError(422, "next_due must be after reviewed_on.", "bad-review-date")
    conn.execute("INSERT INTO care_plan_reviews (patient_id, reviewed_on, reviewed_by, reviewer, "
                 "note, next_due) VALUES (%s, %s, %s, %s, %s, %s)",
                 (patient_id, reviewed_on, staff.id, staff.display_name, body.note, next_due))
    conn.execute("INSERT INTO patient_care (patient_id, review_due, updated_by) "
                 "VALUES (%s, %s, %s) ON CONFLICT (patient_id) DO UPDATE SET "
                 "review_due = excluded.review_due, updated_by = excluded.updated_by, "
                 "updated_at = now()", (patient_id, next_due, staff.username))
    audit(conn, staff, "review", "care-plan", patient_id, client_addr(request),
          {"next_due": next_due.isoformat()})
    out = load_care_plan(conn, patient_id)
    conn.commit()
    return out


@router.get("/patients/{patient_id}/care-plan.html", response_class=HTMLResponse,
            summary="The care plan as one printable page")
def care_plan_page(patient_id: int, staff: Clinical, conn: Conn,
                   request: Request) -> HTMLResponse:
    """A print-ready page for the patient's fridge: who to call, what to measure, when to act
    and what to do."""
    check_patient(conn, staff, patient_id)
    plan = load_care_plan(conn, patient_id)
    patient = conn.execute("SELECT given_name, family_name FROM patients WHERE id = %s",
                           (patient_id,)).fetchone()
    assert patient is not None
    team = CareTeamOut.model_validate(load_care_team(conn, patient_id))
    audit(conn, staff, "print", "care-plan", patient_id, client_addr(request))
    conn.commit()
    return HTMLResponse(render_care_plan(
        f"{patient['given_name']} {patient['family_name']}", plan, team))


@router.get("/care/patients", response_model=list[CarePatientOut],
            summary="The caseload by risk tier and review date")
def care_patients(staff: Clinical, conn: Conn, request: Request, team_id: int | None = None,
                  tier: Annotated[str | None, Query(max_length=40)] = None,
                  sort: Annotated[str, Query(pattern="^(risk|review|name)$")] = "risk",
                  overdue_only: bool = False) -> list[CarePatientOut]:
    """Monitored patients with their latest risk score and tier (rising or not), care-plan
    review date and overdue flag, filtered by tier and sorted by risk, review or name."""
    team = _scope_team(staff, team_id)
    tier = tier.strip() if tier and tier.strip() else None
    query = CARE_PATIENTS_SQL + (f" AND {REVIEW_DUE_SQL} < %(today)s" if overdue_only else "")
    rows = conn.execute(f"{query} ORDER BY {_SORTS[sort]}",
                        {"team": team, "tier": tier, "today": _today()}).fetchall()
    today = _today()
    out = [CarePatientOut(**r, review_overdue=care.review_overdue(r["review_due"], today))
           for r in rows]
    audit(conn, staff, "list", "care-patients", None, client_addr(request),
          {"patient_ids": [r.patient_id for r in out]})
    conn.commit()
    return out


@router.get("/care/overdue-reviews", response_model=list[CarePatientOut],
            summary="Patients whose care-plan review is overdue")
def overdue_reviews(staff: Clinical, conn: Conn, request: Request,
                    team_id: int | None = None) -> list[CarePatientOut]:
    """Care plans past their review date, the longest overdue first."""
    return care_patients(staff, conn, request, team_id=team_id, tier=None, sort="review",
                         overdue_only=True)


async def csv_text(request: Request) -> str:
    """The request body as text (UTF-8, with or without a byte-order mark)."""
    body = await request.body()
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ApiError(422, "The file is not UTF-8 text (save it as CSV UTF-8).",
                       "not-utf8") from err


CsvBody = Annotated[str, Depends(csv_text)]


# --- risk tiers --------------------------------------------------------------------------------

@router.post("/risk-tiers", response_model=ImportResultOut, summary="Import risk scores (CSV)",
             responses={422: {"model": Problem}},
             openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {
                 "type": "string"}}}, "required": True}})
def import_risk_tiers(text: CsvBody, request: Request, staff: Clinical,
                      conn: Conn) -> ImportResultOut:
    """Import a risk-stratification tool's export: `nhs_number,score,tier,date` per row.
    Refused rows are listed with the reason; good rows are kept; re-importing is harmless."""
    good, bad = care.parse_risk_csv(text, today=_today())

    def store(pid: int, r: care.RiskRow) -> bool:
        row = conn.execute(
            "INSERT INTO risk_scores (patient_id, score, tier, scored_on, imported_by) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (patient_id, scored_on) DO UPDATE SET "
            "score = excluded.score, tier = excluded.tier, imported_at = now(), "
            "imported_by = excluded.imported_by WHERE (risk_scores.score, risk_scores.tier) "
            "IS DISTINCT FROM (excluded.score, excluded.tier) RETURNING id",
            (pid, r.score, r.tier, r.scored_on, staff.username)).fetchone()
        return row is not None

    return import_rows(conn, staff, request, "risk-scores", good, bad, store)


@router.get("/patients/{patient_id}/risk", response_model=list[RiskScoreOut],
            summary="A patient's risk scores, newest first")
def patient_risk(patient_id: int, staff: Clinical, conn: Conn,
                 request: Request) -> list[RiskScoreOut]:
    """Every imported score and tier of the patient."""
    check_patient(conn, staff, patient_id)
    rows = conn.execute("SELECT score, tier, scored_on, imported_at, imported_by FROM "
                        "risk_scores WHERE patient_id = %s ORDER BY scored_on DESC",
                        (patient_id,)).fetchall()
    audit(conn, staff, "read", "risk-scores", patient_id, client_addr(request))
    conn.commit()
    return [RiskScoreOut.model_validate(r) for r in rows]


def visible_patients(conn: DbConn, staff: Staff, nhs_numbers: list[str]) -> dict[str, int]:
    """NHS number -> patient id for the patients the caller's teams hold."""
    rows = conn.execute("SELECT id, nhs_number, team_id FROM patients "
                        "WHERE nhs_number = ANY(%s)", (sorted(set(nhs_numbers)),)).fetchall()
    return {r["nhs_number"]: r["id"] for r in rows if team_visible(staff, r["team_id"])}


R = TypeVar("R", care.RiskRow, care.EpisodeRow)


class RowConflict(Exception):
    """A CSV row the database refuses as it stands (the row is listed, the rest imported)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def import_rows(conn: DbConn, staff: Staff, request: Request, what: str,
                good: Sequence[R], bad: Sequence[care.RowProblem],
                store: Callable[[int, R], bool]) -> ImportResultOut:
    """The import loop both CSV imports share: resolve each good row's patient within the
    caller's teams, `store(patient_id, row)` it (True if it changed anything; RowConflict to
    refuse it), list refused rows with their reason, audit, commit."""
    errors = [RowError(row=p.row, code=p.code, message=p.message) for p in bad]
    patients = visible_patients(conn, staff, [r.nhs_number for r in good])
    imported = unchanged = 0
    touched: set[int] = set()
    for r in good:
        pid = patients.get(r.nhs_number)
        if pid is None:
            errors.append(RowError(row=r.row, code="unknown-patient",
                                   message="No patient with this NHS number in your teams."))
            continue
        try:
            changed = store(pid, r)
        except RowConflict as conflict:
            errors.append(RowError(row=r.row, code=conflict.code, message=conflict.message))
            continue
        if changed:
            imported += 1
            touched.add(pid)
        else:
            unchanged += 1
    audit(conn, staff, "import", what, None, client_addr(request),
          {"rows": len(good) + len(bad), "imported": imported, "patient_ids": sorted(touched)})
    conn.commit()
    errors.sort(key=lambda e: e.row)
    return ImportResultOut(rows=len(good) + len([b for b in bad if b.row > 0]),
                           imported=imported, unchanged=unchanged, errors=errors)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>My care plan</title>
<style>
@page {{ size: A4; margin: 12mm; }}
body {{ font-family: Arial, sans-serif; font-size: 12pt; line-height: 1.35; max-width: 180mm; }}
h1 {{ font-size: 18pt; margin: 0 0 4pt; }} h2 {{ font-size: 13pt; margin: 10pt 0 4pt; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border: 1px solid #555; padding: 3pt 5pt; text-align: left; vertical-align: top; }}
.red {{ background: #fde0dc; }} .amber {{ background: #fff3cd; }}
.call {{ font-size: 14pt; font-weight: bold; }}
</style></head><body>
<h1>My care plan</h1>
<p>{name} &middot; {display_id} &middot; review due {review_due}</p>
<h2>Who to call</h2>
<p class="call">Not an emergency: {spa} &middot; Emergency: 999</p>
<p>GP: {gp} &middot; Care coordinator: {coordinator}</p>
<h2>What to measure</h2>
<table><tr><th>Measurement</th><th>How often</th></tr>{schedule}</table>
<h2>When to act, and what to do</h2>
<table><tr><th>If</th><th>What it means</th><th>What to do</th></tr>{triggers}</table>
</body></html>
"""


def render_care_plan(name: str, plan: CarePlanOut, team: CareTeamOut) -> str:
    """The one-page plan the patient keeps on the fridge (every value HTML-escaped)."""
    e = html.escape
    schedule = "".join(
        f"<tr><td>{e(s.metric)}</td><td>{s.per_day} a day"
        f"{' (' + e(s.window) + ')' if s.window else ''}</td></tr>" for s in plan.schedule)
    triggers = "".join(
        f'<tr class="{e(t.severity)}"><td>{e(t.when)}</td><td>{e(t.label)} '
        f"({'urgent' if t.severity == 'red' else 'same day'})</td>"
        f"<td>{e(t.advice or _DEFAULT_ADVICE[t.severity])}</td></tr>" for t in plan.triggers)
    coordinator = ", ".join(x for x in (team.coordinator_name, team.coordinator_role) if x)
    return _PAGE.format(
        name=e(name), display_id=e(plan.display_id),
        review_due=e(plan.review_due.strftime("%d %b %Y") if plan.review_due else "not set"),
        spa=e(team.spa_phone or "ask your nurse for the number"),
        gp=e(" ".join(x for x in (team.gp_name, team.gp_practice, team.gp_phone) if x) or "-"),
        coordinator=e(coordinator or "-"), schedule=schedule or "<tr><td colspan=2>-</td></tr>",
        triggers=triggers or "<tr><td colspan=3>-</td></tr>")


_DEFAULT_ADVICE = {"red": "Call the single point of access now (999 if you feel very unwell).",
                   "amber": "Call the single point of access today."}
