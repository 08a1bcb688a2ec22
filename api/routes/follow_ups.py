"""Follow-up routes: the tasks after a discharge, listed per team and closed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from api.access import audit, check_patient, team_visible
from api.deps import Clinical, Conn, client_addr
from api.errors import ApiError, not_found
from api.schemas.admissions import FollowUpDoneIn, FollowUpOut
from api.schemas.common import Problem

router = APIRouter(tags=["outcomes"], responses={401: {"model": Problem},
                                              404: {"model": Problem}})


FOLLOW_UP_COLUMNS = """f.id, f.patient_id, p.display_id, f.episode_id, f.title, f.due_on,
 f.done_at, f.done_by, f.note"""


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

