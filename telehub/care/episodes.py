"""Hospital episodes: emergency admissions and A&E attendances, recorded by hand or from a
hospital extract (CSV), their discharge, review and the follow-up call after discharge."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from telehub.care.csv_rows import RowProblem, RowRefused, cell_date, cell_nhs, cell_text, csv_rows
from telehub.domain.codes import EPISODE_KINDS

# Spellings hospital extracts use for the two kinds.
_KIND_ALIASES = {"emergency-admission": "emergency-admission", "admission": "emergency-admission",
                 "emergency admission": "emergency-admission", "ae": "ae-attendance",
                 "a&e": "ae-attendance", "ae-attendance": "ae-attendance",
                 "a&e attendance": "ae-attendance"}


def episode_kind(text: str) -> str | None:
    """The episode kind a hospital extract's spelling means ("A&E", "admission"…), or None."""
    return _KIND_ALIASES.get(text.strip().lower())


EPISODE_COLUMNS = ("nhs_number", "kind", "started_on", "discharged_on", "hospital", "reason")


@dataclass(frozen=True)
class EpisodeRow:
    """One admission or A&E attendance from a hospital extract."""

    row: int
    nhs_number: str
    kind: str
    started_on: date
    discharged_on: date | None
    hospital: str | None
    reason: str | None


def parse_episode_csv(text: str, *, today: date) -> tuple[list[EpisodeRow], list[RowProblem]]:
    """Admissions and A&E attendances, and the rows refused, with reasons."""
    good: list[EpisodeRow] = []
    bad: list[RowProblem] = []
    try:
        for number, row in csv_rows(text, EPISODE_COLUMNS[:3]):
            try:
                if isinstance(row, RowRefused):
                    raise row
                good.append(_episode_row(number, row, today))
            except RowRefused as err:
                bad.append(RowProblem(number, err.code, err.message))
    except RowRefused as err:
        bad.append(RowProblem(0, err.code, err.message))
    return good, bad


def _episode_row(number: int, row: Mapping[str, str], today: date) -> EpisodeRow:
    nhs = cell_nhs(row["nhs_number"])
    kind = episode_kind(row["kind"])
    if kind is None:
        raise RowRefused("bad-kind", f"kind must be one of {', '.join(EPISODE_KINDS)}.")
    started = cell_date(row["started_on"], "started_on")
    assert started is not None
    discharged = cell_date(row.get("discharged_on", ""), "discharged_on", required=False)
    if started > today or (discharged is not None and discharged > today):
        raise RowRefused("future-date", "A date is in the future.")
    if discharged is not None and discharged < started:
        raise RowRefused("bad-discharged_on", "discharged_on is before started_on.")
    return EpisodeRow(number, nhs, kind, started, discharged, cell_text(row.get("hospital", "")),
                      cell_text(row.get("reason", "")))



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
FOLLOW_UP_TITLE = "Call after discharge: symptoms, medicines, devices back on"


def record_episode(conn: psycopg.Connection[Any], patient_id: int, kind: str, started_on: date,
                   discharged_on: date | None, hospital: str | None, reason: str | None, *,
                   source: str, who: str,
                   follow_up_days: int | None = 2) -> tuple[int, bool | None]:
    """Insert or complete an episode; (id, True new / False changed / None unchanged). A
    discharged emergency admission gets its follow-up call `follow_up_days` later (None: no
    task)."""
    cur = conn.cursor(row_factory=dict_row)
    row = cur.execute(INSERT_EPISODE_SQL, (patient_id, kind, started_on, discharged_on,
                                            hospital, reason, source, who)).fetchone()
    if row is None:
        found = cur.execute("SELECT id FROM hospital_episodes WHERE patient_id = %s AND "
                             "kind = %s AND started_on = %s",
                             (patient_id, kind, started_on)).fetchone()
        assert found is not None
        return int(found["id"]), None
    if discharged_on is not None and kind == "emergency-admission" and follow_up_days is not None:
        conn.execute(FOLLOW_UP_SQL, (patient_id, row["id"], FOLLOW_UP_TITLE,
                                     discharged_on + timedelta(days=follow_up_days)))
    hospital_status(conn, patient_id)
    return int(row["id"]), bool(row["inserted"])


def hospital_status(conn: psycopg.Connection[Any], patient_id: int) -> None:
    """In hospital while an emergency admission has no discharge date (pauses missing-reading
    alerts); back to active when it has one."""
    conn.execute(
        "UPDATE patients p SET status = CASE WHEN EXISTS (SELECT 1 FROM hospital_episodes e "
        "WHERE e.patient_id = p.id AND e.kind = 'emergency-admission' AND e.discharged_on IS "
        "NULL) THEN 'in-hospital'::patient_status ELSE 'active'::patient_status END, "
        "updated_at = now() WHERE p.id = %s AND p.status IN ('active', 'in-hospital')",
        (patient_id,))


def discharge(conn: psycopg.Connection[Any], episode: dict[str, Any], discharged_on: date,
              follow_up_days: int) -> None:
    """Record the discharge; an emergency admission's follow-up call falls due later."""
    conn.execute("UPDATE hospital_episodes SET discharged_on = %s WHERE id = %s",
                 (discharged_on, episode["id"]))
    if episode["kind"] == "emergency-admission":
        conn.execute(FOLLOW_UP_SQL, (episode["patient_id"], episode["id"], FOLLOW_UP_TITLE,
                                     discharged_on + timedelta(days=follow_up_days)))
    hospital_status(conn, episode["patient_id"])


def review(conn: psycopg.Connection[Any], episode_id: int, avoidable: str,
           would_have_helped: str | None, reviewed_by: str,
           reviewed_at: datetime | None = None) -> None:
    """The post-admission review: was it avoidable, and what would have helped."""
    conn.execute("UPDATE hospital_episodes SET avoidable = %s, would_have_helped = %s, "
                 "reviewed_by = %s, reviewed_at = coalesce(%s, now()) WHERE id = %s",
                 (avoidable, would_have_helped, reviewed_by, reviewed_at, episode_id))


ADD_FOLLOW_UP_SQL = """
INSERT INTO follow_up_tasks (patient_id, episode_id, title, due_on, done_at, done_by, note)
VALUES (%s, %s, %s, %s, %s, %s, %s)
"""


def add_follow_up(conn: psycopg.Connection[Any], patient_id: int, episode_id: int, title: str,
                  due_on: date, *, done_at: datetime | None = None, done_by: str | None = None,
                  note: str | None = None) -> None:
    """A follow-up task after an episode (already done when `done_at` is given)."""
    conn.execute(ADD_FOLLOW_UP_SQL, (patient_id, episode_id, title, due_on, done_at, done_by,
                                     note))
