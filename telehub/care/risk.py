"""Risk tiers: a risk-stratification tool's CSV export, parsed row by row, and the scores stored."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg

from telehub.care.csv_rows import RowProblem, RowRefused, cell_date, cell_nhs, csv_rows

RISK_COLUMNS = ("nhs_number", "score", "tier", "date")


@dataclass(frozen=True)
class RiskRow:
    """One risk score from a risk-stratification tool."""

    row: int
    nhs_number: str
    score: float
    tier: str
    scored_on: date


def parse_risk_csv(text: str, *, today: date) -> tuple[list[RiskRow], list[RowProblem]]:
    """Risk scores (nhs_number, score, tier, date) and the rows refused, with reasons."""
    good: list[RiskRow] = []
    bad: list[RowProblem] = []
    try:
        for number, row in csv_rows(text, RISK_COLUMNS):
            try:
                if isinstance(row, RowRefused):
                    raise row
                good.append(_risk_row(number, row, today))
            except RowRefused as err:
                bad.append(RowProblem(number, err.code, err.message))
    except RowRefused as err:
        bad.append(RowProblem(0, err.code, err.message))
    return good, bad


def _risk_row(number: int, row: Mapping[str, str], today: date) -> RiskRow:
    nhs = cell_nhs(row["nhs_number"])
    try:
        score = float(row["score"])
    except ValueError:
        raise RowRefused("bad-score", f"score '{row['score'][:40]}' is not a number.") from None
    if not math.isfinite(score) or not 0 <= score <= 100_000:
        raise RowRefused("bad-score", "score must be a number from 0 to 100,000.")
    tier = row["tier"].strip()
    if not tier or len(tier) > 40:
        raise RowRefused("bad-tier", "tier must be 1–40 characters (e.g. 'high').")
    scored_on = cell_date(row["date"], "date")
    assert scored_on is not None
    if scored_on > today:
        raise RowRefused("future-date", "date is in the future.")
    return RiskRow(number, nhs, score, tier.lower(), scored_on)



# Re-importing a score is harmless: the same (patient, date) is changed only if it differs.
STORE_SCORE_SQL = """
INSERT INTO risk_scores (patient_id, score, tier, scored_on, imported_by)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (patient_id, scored_on) DO UPDATE SET score = excluded.score, tier = excluded.tier,
    imported_at = now(), imported_by = excluded.imported_by
WHERE (risk_scores.score, risk_scores.tier) IS DISTINCT FROM (excluded.score, excluded.tier)
RETURNING id
"""


def store_risk_score(conn: psycopg.Connection[Any], patient_id: int, score: float, tier: str,
                     scored_on: date, imported_by: str) -> bool:
    """Store a patient's score for a date; True when it added or changed one."""
    row = conn.execute(STORE_SCORE_SQL, (patient_id, score, tier, scored_on,
                                         imported_by)).fetchone()
    return row is not None
