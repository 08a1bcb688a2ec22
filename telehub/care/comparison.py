"""A comparison cohort for before/after outcomes: people of the same population who are not
monitored, each with an enrolment-equivalent date and their hospital episodes, imported as CSV
(one row an episode; a person without any has one row with kind and started_on empty)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg
from psycopg.rows import dict_row

from telehub.care.csv_rows import RowProblem, RowRefused, cell_date, cell_nhs, csv_rows
from telehub.care.episodes import episode_kind
from telehub.domain.codes import EPISODE_KINDS

COMPARISON_COLUMNS = ("nhs_number", "index_date", "kind", "started_on", "discharged_on")


@dataclass(frozen=True)
class ComparisonRow:
    """One person's enrolment-equivalent date and, when given, one of their episodes."""

    row: int
    nhs_number: str
    index_date: date
    kind: str | None
    started_on: date | None
    discharged_on: date | None


def parse_comparison_csv(text: str, *, today: date
                         ) -> tuple[list[ComparisonRow], list[RowProblem]]:
    """The good rows, and the refused ones with their reasons (a bad row loses nothing else)."""
    good: list[ComparisonRow] = []
    bad: list[RowProblem] = []
    try:
        for number, row in csv_rows(text, COMPARISON_COLUMNS[:2]):
            try:
                if isinstance(row, RowRefused):
                    raise row
                good.append(_row(number, row, today))
            except RowRefused as err:
                bad.append(RowProblem(number, err.code, err.message))
    except RowRefused as err:
        bad.append(RowProblem(0, err.code, err.message))
    return good, bad


def _row(number: int, row: Mapping[str, str], today: date) -> ComparisonRow:
    nhs = cell_nhs(row["nhs_number"])
    index = cell_date(row["index_date"], "index_date")
    assert index is not None
    text = row.get("kind", "")
    started = cell_date(row.get("started_on", ""), "started_on", required=False)
    discharged = cell_date(row.get("discharged_on", ""), "discharged_on", required=False)
    if index > today or any(d is not None and d > today for d in (started, discharged)):
        raise RowRefused("future-date", "A date is in the future.")
    if not text and started is None and discharged is None:
        return ComparisonRow(number, nhs, index, None, None, None)
    kind = episode_kind(text)
    if kind is None:
        raise RowRefused("bad-kind", f"kind must be one of {', '.join(EPISODE_KINDS)} "
                         "(or empty, with started_on empty, for a person without episodes).")
    if started is None:
        raise RowRefused("missing-started_on", "An episode needs its started_on.")
    if discharged is not None and discharged < started:
        raise RowRefused("bad-discharged_on", "discharged_on is before started_on.")
    return ComparisonRow(number, nhs, index, kind, started, discharged)


MEMBER_SQL = """
INSERT INTO comparison_members (team_id, nhs_number, index_date, imported_by)
VALUES (%s, %s, %s, %s)
ON CONFLICT (team_id, nhs_number) DO UPDATE SET index_date = excluded.index_date
RETURNING id, (xmax = 0) AS inserted, index_date
"""
EPISODE_SQL = """
INSERT INTO comparison_episodes (member_id, kind, started_on, discharged_on)
VALUES (%s, %s, %s, %s)
ON CONFLICT (member_id, kind, started_on) DO UPDATE
   SET discharged_on = coalesce(excluded.discharged_on, comparison_episodes.discharged_on)
 WHERE comparison_episodes.discharged_on IS DISTINCT FROM
       coalesce(excluded.discharged_on, comparison_episodes.discharged_on)
RETURNING id
"""


def store_comparison_rows(conn: psycopg.Connection[Any], team_id: int,
                          rows: list[ComparisonRow], who: str
                          ) -> tuple[int, int, list[RowProblem]]:
    """Store the rows for the team: (rows that changed something, rows unchanged, refused).
    A person who is one of the team's monitored patients is refused: they cannot be their
    own comparison."""
    cur = conn.cursor(row_factory=dict_row)
    monitored = {r["nhs_number"] for r in cur.execute(
        "SELECT nhs_number FROM patients WHERE team_id = %s AND nhs_number = ANY(%s)",
        (team_id, sorted({r.nhs_number for r in rows}))).fetchall()}
    changed = unchanged = 0
    problems: list[RowProblem] = []
    for r in rows:
        if r.nhs_number in monitored:
            problems.append(RowProblem(r.row, "monitored-patient", "This NHS number is a "
                                       "monitored patient of the team, not a comparison."))
            continue
        member = cur.execute(MEMBER_SQL, (team_id, r.nhs_number, r.index_date, who)).fetchone()
        assert member is not None
        member_id, inserted = member["id"], bool(member["inserted"])
        episode = None
        if r.kind is not None:
            episode = cur.execute(EPISODE_SQL, (member_id, r.kind, r.started_on,
                                                 r.discharged_on)).fetchone()
        if inserted or episode is not None:
            changed += 1
        else:
            unchanged += 1
    return changed, unchanged, problems

