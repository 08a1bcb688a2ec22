"""Hospital episodes: emergency admissions and A&E attendances from a hospital extract (CSV)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from telehub.care.csv_rows import RowProblem, RowRefused, cell_date, cell_nhs, cell_text, csv_rows
from telehub.domain.codes import EPISODE_KINDS

# Spellings hospital extracts use for the two kinds.
_KIND_ALIASES = {"emergency-admission": "emergency-admission", "admission": "emergency-admission",
                 "emergency admission": "emergency-admission", "ae": "ae-attendance",
                 "a&e": "ae-attendance", "ae-attendance": "ae-attendance",
                 "a&e attendance": "ae-attendance"}


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
    kind = _KIND_ALIASES.get(row["kind"].strip().lower())
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

