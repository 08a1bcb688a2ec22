"""Care coordination domain: review dates, trigger wording, and the CSV imports (risk tiers,
hospital episodes) parsed row by row so one bad row never loses the good ones."""

from __future__ import annotations

import calendar
import csv
import io
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from telehub.domain.nhs_number import is_valid_nhs_number, normalise_nhs_number
from telehub.domain.units import SPECS, Metric

# Care plans are reviewed quarterly unless the nurse sets another date.
REVIEW_MONTHS = 3
# A CSV import larger than this is refused whole (a risk tool's export for one
# integrated-care system is a few tens of thousands of rows).
IMPORT_MAX_ROWS = 50_000
EPISODE_KINDS = ("emergency-admission", "ae-attendance")
# Spellings hospital extracts use for the two kinds.
_KIND_ALIASES = {"emergency-admission": "emergency-admission", "admission": "emergency-admission",
                 "emergency admission": "emergency-admission", "ae": "ae-attendance",
                 "a&e": "ae-attendance", "ae-attendance": "ae-attendance",
                 "a&e attendance": "ae-attendance"}
RISK_COLUMNS = ("nhs_number", "score", "tier", "date")
EPISODE_COLUMNS = ("nhs_number", "kind", "started_on", "discharged_on", "hospital", "reason")
TEXT_MAX = 1000


def add_months(day: date, months: int) -> date:
    """The same day `months` later (the month's last day when it is shorter)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def next_review_due(reviewed_on: date) -> date:
    """When a care plan reviewed on `reviewed_on` falls due again (quarterly)."""
    return add_months(reviewed_on, REVIEW_MONTHS)


def review_overdue(review_due: date | None, today: date) -> bool:
    """True when the review date has passed (no date set: not overdue, but not planned)."""
    return review_due is not None and review_due < today


_BOUNDS = (("at_or_below", "at or below"), ("below", "below"), ("at_or_above", "at or above"),
           ("above", "above"))


def describe_trigger(metric: str | None, kind: str, params: Mapping[str, Any],
                     unit: str | None = None) -> str:
    """A trigger in the patient's words, e.g. "SpO2 at or below 91 %" (thresholds in `unit`,
    else the metric's canonical unit)."""
    try:
        spec = SPECS[Metric(metric)] if metric else None
    except ValueError:
        spec = None
    label = spec.label if spec else (metric or "Reading")
    unit_text = unit or (spec.canonical.value if spec else "")
    unit = f" {unit_text}" if unit_text else ""
    bounds = [f"{words} {params[key]:g}{unit}" for key, words in _BOUNDS
              if isinstance(params.get(key), int | float)]
    if bounds:
        text = f"{label} {' or '.join(bounds)}"
        consecutive = params.get("consecutive")
        if isinstance(consecutive, int) and consecutive > 1:
            text += f" on {consecutive} readings in a row"
        return text
    if kind == "change" and "gain_kg" in params:
        return f"Weight up {params['gain_kg']:g} kg or more in {params.get('days', '?')} days"
    if kind == "change" and "loss_kg" in params:
        return f"Weight down {params['loss_kg']:g} kg or more in {params.get('days', '?')} days"
    if kind == "daily-rise":
        return (f"Weight up {params.get('rise_kg', '?')} kg or more a day on "
                f"{params.get('days', '?')} days in a row")
    if kind == "above-dry":
        return f"Weight {params.get('margin_kg', '?')} kg or more above your dry weight"
    if kind == "baseline-drop":
        return (f"{label} {params.get('points', '?')} points or more below your usual level "
                f"on {params.get('consecutive', '?')} readings in a row")
    if kind == "count":
        return f"{label} out of range {params.get('n', params.get('count', '?'))} times"
    return label


@dataclass(frozen=True)
class RowProblem:
    """One refused CSV row: `row` counts data rows from 1 (the header is row 0)."""

    row: int
    code: str
    message: str


@dataclass(frozen=True)
class RiskRow:
    """One risk score from a risk-stratification tool."""

    row: int
    nhs_number: str
    score: float
    tier: str
    scored_on: date


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


class _RowError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _rows(text: str, required: Sequence[str]
          ) -> Iterator[tuple[int, dict[str, str] | _RowError]]:
    """Data rows keyed by lower-cased header, or the row's error; raises _RowError (row 0)
    for a missing or bad header."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = next(reader)
    except StopIteration:
        raise _RowError("empty-file", "The file is empty: expected a header row "
                        f"({','.join(required)}).") from None
    except csv.Error as err:
        raise _RowError("bad-header", f"The header row is not valid CSV ({err}).") from None
    names = [h.strip().lower().replace(" ", "_") for h in header]
    missing = [c for c in required if c not in names]
    if missing:
        raise _RowError("bad-header", f"The header lacks {', '.join(missing)} (expected "
                        f"{','.join(required)}).")
    number = 0
    while True:
        number += 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as err:  # the reader moves past the broken line
            yield number, _RowError("bad-csv", f"The row is not valid CSV ({err}).")
            continue
        if not any(c.strip() for c in cells):
            continue
        if number > IMPORT_MAX_ROWS:
            raise _RowError("too-many-rows", f"At most {IMPORT_MAX_ROWS:,} rows per file.")
        if any("\x00" in c for c in cells):
            yield number, _RowError("bad-characters", "The row contains NUL characters.")
            continue
        yield number, {n: (cells[i].strip() if i < len(cells) else "")
                       for i, n in enumerate(names)}


def _nhs(value: str) -> str:
    nhs = normalise_nhs_number(value)
    if not nhs:
        raise _RowError("missing-nhs-number", "No NHS number.")
    if not is_valid_nhs_number(nhs):
        raise _RowError("bad-nhs-number", "Not a valid NHS number (ten digits with a "
                        "modulus-11 check digit).")
    return nhs


def _date(value: str, column: str, *, required: bool = True) -> date | None:
    if not value:
        if required:
            raise _RowError(f"missing-{column}", f"No {column}.")
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        pass
    for sep in ("/", "-", "."):  # dd/mm/yyyy, as UK extracts often write it
        parts = value.split(sep)
        if len(parts) == 3 and len(parts[2]) == 4 and all(p.isdigit() for p in parts):
            try:
                return date(int(parts[2]), int(parts[1]), int(parts[0]))
            except ValueError:
                break
    raise _RowError(f"bad-{column}", f"{column} '{value[:40]}' is not a date "
                    "(YYYY-MM-DD or DD/MM/YYYY).")


def _text(value: str) -> str | None:
    text = value.strip()
    return text[:TEXT_MAX] if text else None


def parse_risk_csv(text: str, *, today: date) -> tuple[list[RiskRow], list[RowProblem]]:
    """Risk scores (nhs_number, score, tier, date) and the rows refused, with reasons."""
    good: list[RiskRow] = []
    bad: list[RowProblem] = []
    try:
        for number, row in _rows(text, RISK_COLUMNS):
            try:
                if isinstance(row, _RowError):
                    raise row
                good.append(_risk_row(number, row, today))
            except _RowError as err:
                bad.append(RowProblem(number, err.code, err.message))
    except _RowError as err:
        bad.append(RowProblem(0, err.code, err.message))
    return good, bad


def _risk_row(number: int, row: Mapping[str, str], today: date) -> RiskRow:
    nhs = _nhs(row["nhs_number"])
    try:
        score = float(row["score"])
    except ValueError:
        raise _RowError("bad-score", f"score '{row['score'][:40]}' is not a number.") from None
    if not math.isfinite(score) or not 0 <= score <= 100_000:
        raise _RowError("bad-score", "score must be a number from 0 to 100,000.")
    tier = row["tier"].strip()
    if not tier or len(tier) > 40:
        raise _RowError("bad-tier", "tier must be 1–40 characters (e.g. 'high').")
    scored_on = _date(row["date"], "date")
    assert scored_on is not None
    if scored_on > today:
        raise _RowError("future-date", "date is in the future.")
    return RiskRow(number, nhs, score, tier.lower(), scored_on)


def parse_episode_csv(text: str, *, today: date) -> tuple[list[EpisodeRow], list[RowProblem]]:
    """Admissions and A&E attendances, and the rows refused, with reasons."""
    good: list[EpisodeRow] = []
    bad: list[RowProblem] = []
    try:
        for number, row in _rows(text, EPISODE_COLUMNS[:3]):
            try:
                if isinstance(row, _RowError):
                    raise row
                good.append(_episode_row(number, row, today))
            except _RowError as err:
                bad.append(RowProblem(number, err.code, err.message))
    except _RowError as err:
        bad.append(RowProblem(0, err.code, err.message))
    return good, bad


def _episode_row(number: int, row: Mapping[str, str], today: date) -> EpisodeRow:
    nhs = _nhs(row["nhs_number"])
    kind = _KIND_ALIASES.get(row["kind"].strip().lower())
    if kind is None:
        raise _RowError("bad-kind", f"kind must be one of {', '.join(EPISODE_KINDS)}.")
    started = _date(row["started_on"], "started_on")
    assert started is not None
    discharged = _date(row.get("discharged_on", ""), "discharged_on", required=False)
    if started > today or (discharged is not None and discharged > today):
        raise _RowError("future-date", "A date is in the future.")
    if discharged is not None and discharged < started:
        raise _RowError("bad-discharged_on", "discharged_on is before started_on.")
    return EpisodeRow(number, nhs, kind, started, discharged, _text(row.get("hospital", "")),
                      _text(row.get("reason", "")))
