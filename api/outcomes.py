"""Hospital episodes (emergency admissions, A&E attendances, discharges, post-admission review,
follow-up after discharge), the team's monthly outcome figures and the weekly MDT list."""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from api.access import audit, check_patient, team_visible
from api.care_routes import REVIEW_DUE_SQL, CsvBody, RowConflict, import_rows
from api.care_schemas import (
    DischargeEpisodeIn,
    EpisodeIn,
    EpisodeOut,
    EpisodeReviewIn,
    FollowUpDoneIn,
    FollowUpOut,
    ImportResultOut,
    OutcomeMonth,
    OutcomesOut,
)
from api.deps import Clinical, Conn, DbConn, Staff, client_addr, require
from api.errors import ApiError, not_found
from api.schemas import Problem, Role
from telehub.care import plans as care

router = APIRouter(tags=["outcomes"], responses={401: {"model": Problem},
                                                 404: {"model": Problem}})

OutcomeReader = Annotated[Staff, Depends(require(Role.ADMIN, Role.MATRON, Role.MANAGER))]

# An amber or red alert this many days before an admission "preceded" it.
PRECEDING_DAYS = 14
READMISSION_DAYS = 30
FOLLOW_UP_TITLE = "Call after discharge: symptoms, medicines, devices back on"
# Staff actions that count as the first response to a red alert (system events do not).
ACTION_KINDS = ("acknowledged", "assigned", "escalated", "note", "resolved", "call-logged",
                "carer-contacted", "visit-dispatched", "ambulance-called", "escalated-to-matron")
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
    "months": "Calendar months, UTC.",
}
EPISODE_COLUMNS = """e.id, e.patient_id, e.kind, e.started_on, e.discharged_on, e.hospital,
 e.reason, e.source, e.recorded_by, e.avoidable, e.would_have_helped, e.reviewed_by,
 e.reviewed_at,
 (SELECT count(*) FROM alerts a WHERE a.patient_id = e.patient_id
    AND a.severity IN ('amber', 'red')
    AND (a.first_breach_at AT TIME ZONE 'UTC')::date BETWEEN e.started_on - 14 AND e.started_on
 )::int AS alerts_before"""
EPISODE_SQL = f"SELECT {EPISODE_COLUMNS} FROM hospital_episodes e WHERE e.id = %s"  # noqa: S608
INSERT_EPISODE_SQL = """
INSERT INTO hospital_episodes (patient_id, kind, started_on, discharged_on, hospital, reason,
                               source, recorded_by)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (patient_id, kind, started_on) DO UPDATE
   SET discharged_on = coalesce(excluded.discharged_on, hospital_episodes.discharged_on),
       hospital = coalesce(excluded.hospital, hospital_episodes.hospital),
       reason = coalesce(excluded.reason, hospital_episodes.reason)
 WHERE (hospital_episodes.discharged_on, hospital_episodes.hospital, hospital_episodes.reason)
       IS DISTINCT FROM (coalesce(excluded.discharged_on, hospital_episodes.discharged_on),
                         coalesce(excluded.hospital, hospital_episodes.hospital),
                         coalesce(excluded.reason, hospital_episodes.reason))
RETURNING id, (xmax = 0) AS inserted
"""
FOLLOW_UP_SQL = """
INSERT INTO follow_up_tasks (patient_id, episode_id, title, due_on) VALUES (%s, %s, %s, %s)
ON CONFLICT (episode_id) DO UPDATE SET due_on = excluded.due_on
"""
FOLLOW_UP_COLUMNS = """f.id, f.patient_id, p.display_id, f.episode_id, f.title, f.due_on,
 f.done_at, f.done_by, f.note"""


def _today() -> date:
    return datetime.now(UTC).date()


# --- episodes ----------------------------------------------------------------------------------

def record_episode(conn: DbConn, patient_id: int, kind: str, started_on: date,
                   discharged_on: date | None, hospital: str | None, reason: str | None, *,
                   source: str, who: str, follow_up_days: int = 2) -> tuple[int, bool | None]:
    """Insert or complete an episode; (id, True new / False changed / None unchanged)."""
    row = conn.execute(INSERT_EPISODE_SQL, (patient_id, kind, started_on, discharged_on,
                                            hospital, reason, source, who)).fetchone()
    if row is None:
        found = conn.execute("SELECT id FROM hospital_episodes WHERE patient_id = %s AND "
                             "kind = %s AND started_on = %s",
                             (patient_id, kind, started_on)).fetchone()
        assert found is not None
        return int(found["id"]), None
    if discharged_on is not None and kind == "emergency-admission":
        conn.execute(FOLLOW_UP_SQL, (patient_id, row["id"], FOLLOW_UP_TITLE,
                                     discharged_on + timedelta(days=follow_up_days)))
    _hospital_status(conn, patient_id)
    return int(row["id"]), bool(row["inserted"])


def _hospital_status(conn: DbConn, patient_id: int) -> None:
    """In hospital while an emergency admission has no discharge date (pauses missing-reading
    alerts); back to active when it has one."""
    conn.execute(
        "UPDATE patients p SET status = CASE WHEN EXISTS (SELECT 1 FROM hospital_episodes e "
        "WHERE e.patient_id = p.id AND e.kind = 'emergency-admission' AND e.discharged_on IS "
        "NULL) THEN 'in-hospital'::patient_status ELSE 'active'::patient_status END, "
        "updated_at = now() WHERE p.id = %s AND p.status IN ('active', 'in-hospital')",
        (patient_id,))


@router.get("/patients/{patient_id}/admissions", response_model=list[EpisodeOut],
            summary="A patient's admissions and A&E attendances")
def list_episodes(patient_id: int, staff: Clinical, conn: Conn,
                  request: Request) -> list[EpisodeOut]:
    """Newest first, each with its review and the alerts in the 14 days before it."""
    check_patient(conn, staff, patient_id)
    rows = conn.execute(f"SELECT {EPISODE_COLUMNS} FROM hospital_episodes e "  # noqa: S608
                        "WHERE e.patient_id = %s ORDER BY e.started_on DESC, e.id DESC",
                        (patient_id,)).fetchall()
    audit(conn, staff, "read", "admissions", patient_id, client_addr(request))
    conn.commit()
    return [EpisodeOut.model_validate(r) for r in rows]


@router.post("/patients/{patient_id}/admissions", response_model=EpisodeOut, status_code=201,
             summary="Record an admission or A&E attendance",
             responses={409: {"model": Problem}, 422: {"model": Problem}})
def add_episode(patient_id: int, body: EpisodeIn, staff: Clinical, conn: Conn,
                request: Request) -> EpisodeOut:
    """Record by hand; a discharge date creates the follow-up task."""
    check_patient(conn, staff, patient_id)
    today = _today()
    if body.started_on > today or (body.discharged_on and body.discharged_on > today):
        raise ApiError(422, "A date is in the future.", "future-date")
    if body.discharged_on and body.discharged_on < body.started_on:
        raise ApiError(422, "discharged_on is before started_on.", "bad-discharged-on")
    if conn.execute("SELECT 1 FROM hospital_episodes WHERE patient_id = %s AND kind = %s AND "
                    "started_on = %s", (patient_id, body.kind.value, body.started_on)
                    ).fetchone() is not None:
        raise ApiError(409, "This episode is already recorded.", "duplicate-episode")
    episode_id, _ = record_episode(conn, patient_id, body.kind.value, body.started_on,
                                   body.discharged_on, body.hospital, body.reason,
                                   source="manual", who=staff.username)
    audit(conn, staff, "create", "admission", patient_id, client_addr(request),
          {"episode_id": episode_id})
    out = conn.execute(EPISODE_SQL, (episode_id,)).fetchone()
    conn.commit()
    return EpisodeOut.model_validate(out)


def _episode(conn: DbConn, staff: Staff, episode_id: int) -> dict[str, Any]:
    row = conn.execute(EPISODE_SQL, (episode_id,)).fetchone()
    if row is None:
        raise not_found("admission")
    check_patient(conn, staff, row["patient_id"])
    return dict(row)


@router.post("/admissions/{episode_id}/discharge", response_model=EpisodeOut,
             summary="Record the discharge (and create the follow-up task)",
             responses={422: {"model": Problem}})
def discharge_episode(episode_id: int, body: DischargeEpisodeIn, staff: Clinical, conn: Conn,
                      request: Request) -> EpisodeOut:
    """Set the discharge date; the follow-up task falls due `follow_up_days` later."""
    episode = _episode(conn, staff, episode_id)
    if body.discharged_on < episode["started_on"] or body.discharged_on > _today():
        raise ApiError(422, "The discharge date must be between the start and today.",
                       "bad-discharged-on")
    conn.execute("UPDATE hospital_episodes SET discharged_on = %s WHERE id = %s",
                 (body.discharged_on, episode_id))
    if episode["kind"] == "emergency-admission":
        conn.execute(FOLLOW_UP_SQL, (episode["patient_id"], episode_id, FOLLOW_UP_TITLE,
                                     body.discharged_on + timedelta(days=body.follow_up_days)))
    _hospital_status(conn, episode["patient_id"])
    audit(conn, staff, "discharge", "admission", episode["patient_id"], client_addr(request),
          {"episode_id": episode_id})
    out = conn.execute(EPISODE_SQL, (episode_id,)).fetchone()
    conn.commit()
    return EpisodeOut.model_validate(out)


@router.post("/admissions/{episode_id}/review", response_model=EpisodeOut,
             summary="The post-admission review")
def review_episode(episode_id: int, body: EpisodeReviewIn, staff: Clinical, conn: Conn,
                   request: Request) -> EpisodeOut:
    """Was it avoidable, and what would have helped."""
    episode = _episode(conn, staff, episode_id)
    conn.execute("UPDATE hospital_episodes SET avoidable = %s, would_have_helped = %s, "
                 "reviewed_by = %s, reviewed_at = now() WHERE id = %s",
                 (body.avoidable.value, body.would_have_helped, staff.username, episode_id))
    audit(conn, staff, "review", "admission", episode["patient_id"], client_addr(request),
          {"episode_id": episode_id})
    out = conn.execute(EPISODE_SQL, (episode_id,)).fetchone()
    conn.commit()
    return EpisodeOut.model_validate(out)


@router.post("/admissions/import", response_model=ImportResultOut,
             summary="Import admissions and A&E attendances (CSV)",
             responses={422: {"model": Problem}},
             openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {
                 "type": "string"}}}, "required": True}})
def import_episodes(text: CsvBody, staff: Clinical, conn: Conn,
                    request: Request) -> ImportResultOut:
    """`nhs_number,kind,started_on,discharged_on,hospital,reason` per row; refused rows are
    listed with the reason, good rows kept; re-importing is harmless."""
    good, bad = care.parse_episode_csv(text, today=_today())

    def store(pid: int, r: care.EpisodeRow) -> bool:
        try:
            with conn.transaction():
                _, changed = record_episode(conn, pid, r.kind, r.started_on, r.discharged_on,
                                            r.hospital, r.reason, source="import",
                                            who=staff.username)
        except psycopg.errors.CheckViolation as err:
            raise RowConflict("conflicts-with-record", "The row contradicts the recorded "
                              "episode (e.g. a discharge before its start).") from err
        return changed is not None

    return import_rows(conn, staff, request, "admissions", good, bad, store)


@router.get("/teams/{team_id}/follow-ups", response_model=list[FollowUpOut],
            summary="Follow-up tasks after discharge")
def follow_ups(team_id: int, staff: Clinical, conn: Conn, request: Request,
               open_only: Annotated[bool, Query(alias="open")] = True) -> list[FollowUpOut]:
    """The team's follow-up tasks, the earliest due first."""
    if not team_visible(staff, team_id):
        raise not_found("team")
    rows = conn.execute(f"SELECT {FOLLOW_UP_COLUMNS} FROM follow_up_tasks f "  # noqa: S608
                        "JOIN patients p ON p.id = f.patient_id WHERE p.team_id = %s "
                        "AND (NOT %s OR f.done_at IS NULL) ORDER BY f.due_on, f.id",
                        (team_id, open_only)).fetchall()
    audit(conn, staff, "list", "follow-ups", None, client_addr(request),
          {"patient_ids": sorted({r["patient_id"] for r in rows})})
    conn.commit()
    return [FollowUpOut.model_validate(r) for r in rows]


@router.post("/follow-ups/{task_id}/done", response_model=FollowUpOut,
             summary="Close a follow-up task", responses={409: {"model": Problem}})
def follow_up_done(task_id: int, body: FollowUpDoneIn, staff: Clinical, conn: Conn,
                   request: Request) -> FollowUpOut:
    """Mark the task done, with a note."""
    row = conn.execute("SELECT patient_id, done_at FROM follow_up_tasks WHERE id = %s",
                       (task_id,)).fetchone()
    if row is None:
        raise not_found("follow-up")
    check_patient(conn, staff, row["patient_id"])
    if row["done_at"] is not None:
        raise ApiError(409, "The task is already done.", "already-done")
    conn.execute("UPDATE follow_up_tasks SET done_at = now(), done_by = %s, note = %s "
                 "WHERE id = %s", (staff.username, body.note, task_id))
    audit(conn, staff, "complete", "follow-up", row["patient_id"], client_addr(request),
          {"task_id": task_id})
    out = conn.execute(f"SELECT {FOLLOW_UP_COLUMNS} FROM follow_up_tasks f "  # noqa: S608
                       "JOIN patients p ON p.id = f.patient_id WHERE f.id = %s",
                       (task_id,)).fetchone()
    conn.commit()
    return FollowUpOut.model_validate(out)


# --- outcome figures ---------------------------------------------------------------------------

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
SELECT a.id, a.patient_id, (a.first_breach_at AT TIME ZONE 'UTC')::date AS day
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


def month_start(text: str) -> date:
    """'2026-10' -> 1 Oct 2026 (a 422 for anything else)."""
    try:
        year, month = (int(p) for p in text.split("-"))
        return date(year, month, 1)
    except ValueError as err:
        raise ApiError(422, f"'{text[:20]}' is not a month (YYYY-MM).", "bad-month") from err


def _utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def nearest_rank(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile (share 0–1) of `values`; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def team_outcomes(conn: DbConn, team_id: int, first: date, last: date) -> list[OutcomeMonth]:
    """Per calendar month from `first` to `last` (both the first of a month)."""
    months = []
    day = first
    while day <= last:
        months.append(day)
        day = care.add_months(day, 1)
    end = care.add_months(last, 1)
    episodes = conn.execute(TEAM_EPISODES_SQL, (team_id, end)).fetchall()
    alerts = conn.execute(TEAM_ALERTS_SQL, (team_id, _utc(first - timedelta(PRECEDING_DAYS)),
                                            _utc(end))).fetchall()
    alerts_by_patient: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for a in alerts:
        alerts_by_patient[a["patient_id"]].append(a)
    admissions_by_patient: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for e in episodes:
        if e["kind"] == "emergency-admission":
            admissions_by_patient[e["patient_id"]].append(e)
    out = []
    for start in months:
        stop = care.add_months(start, 1)
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


def _check_team(conn: DbConn, staff: Staff, team_id: int) -> None:
    if not team_visible(staff, team_id) or conn.execute(
            "SELECT 1 FROM teams WHERE id = %s", (team_id,)).fetchone() is None:
        raise not_found("team")


@router.get("/teams/{team_id}/outcomes", response_model=OutcomesOut,
            summary="Emergency admissions, A&E, readmissions and response times per month",
            responses={422: {"model": Problem}})
def outcomes(team_id: int, staff: OutcomeReader, conn: Conn,
             start: Annotated[str | None, Query(alias="from", pattern=r"^\d{4}-\d{2}$",
                                                description="YYYY-MM; default 5 months "
                                                "before 'to'")] = None,
             end: Annotated[str | None, Query(alias="to", pattern=r"^\d{4}-\d{2}$",
                                              description="YYYY-MM; default this month")] = None,
             ) -> OutcomesOut:
    """The team's outcome figures per calendar month (no identifiable data)."""
    _check_team(conn, staff, team_id)
    last = month_start(end) if end else _today().replace(day=1)
    first = month_start(start) if start else care.add_months(last, -5)
    if first > last or care.add_months(first, 36) <= last:
        raise ApiError(422, "'from' must be on or before 'to', at most 36 months apart.",
                       "bad-window")
    return OutcomesOut(team_id=team_id, months=team_outcomes(conn, team_id, first, last),
                       definitions=DEFINITIONS)


# --- MDT list ----------------------------------------------------------------------------------

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


def mdt_rows(conn: DbConn, team_id: int, week_ending: date) -> list[dict[str, Any]]:
    """Patients for the weekly MDT: red alerts, admissions or A&E in the week, overdue care-plan
    review, or rising risk; each with the reasons in words."""
    first = week_ending - timedelta(days=6)
    rows = conn.execute(MDT_SQL, {"team": team_id, "first": first, "last": week_ending,
                                  "start": _utc(first), "end": _utc(week_ending + timedelta(1))}
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
        if care.review_overdue(r["review_due"], week_ending):
            reasons.append(f"care-plan review overdue since {r['review_due']:%d %b %Y}")
        if r["previous_score"] is not None and r["risk_score"] > r["previous_score"]:
            reasons.append(f"risk rising {r['previous_score']:g} -> {r['risk_score']:g}")
        if reasons:
            out.append({**r, "reasons": "; ".join(reasons)})
    return out


@router.get("/teams/{team_id}/mdt.csv", response_class=Response,
            summary="The weekly MDT review list as CSV",
            responses={200: {"content": {"text/csv": {}}}})
def mdt_csv(team_id: int, staff: Clinical, conn: Conn, request: Request,
            week_ending: date | None = None) -> Response:
    """Patients with red alerts, admissions or A&E in the 7 days to `week_ending` (default
    today), overdue reviews, or rising risk."""
    _check_team(conn, staff, team_id)
    day = week_ending or _today()
    rows = mdt_rows(conn, team_id, day)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=MDT_COLUMNS, extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if r[k] is None else r[k]) for k in MDT_COLUMNS})
    audit(conn, staff, "export", "mdt-list", None, client_addr(request),
          {"team_id": team_id, "week_ending": day.isoformat(),
           "patient_ids": [r["id"] for r in rows]})
    conn.commit()
    return Response(buffer.getvalue(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="mdt-{team_id}-{day.isoformat()}.csv"'})
