"""Adherence: readings received against what the care plan expects, on local days."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from telehub.domain.clock import service_date
from telehub.domain.codes import is_low_quality

# One definition for the caseload, the team statistics, the patient page and the
# "< 70 % of expected readings" rule:
# - a care-plan slot is a JSON object whose `per_day` is a whole number of at least 1
#   (`{"weight": {"per_day": 1, "window": "morning"}}`); anything else expects nothing;
# - a window [start, end) expects `per_day` readings for each 24 hours of it;
# - a reading is received unless the device flagged it low quality (codes.LOW_QUALITY_FLAGS:
#   such readings are excluded from threshold rules, so they are not readings taken);
# - each metric's local calendar day (Europe/London unless TELEHUB_TIMEZONE says otherwise)
#   counts at most the plan's `per_day`, so extra readings one day do not hide missing ones
#   another;
# - the window runs from when monitoring began (the earlier of enrolment and the first
#   reading) if that is later than its start.

# The caseload's adherence and the "< 70 % over 7 days" rule look back this far.
WINDOW = timedelta(days=7)
DAY = timedelta(days=1)


def slot_per_day(slot: Any) -> int | None:
    """Readings a day one care-plan slot expects, or None when it expects none."""
    if not isinstance(slot, Mapping):
        return None
    value = slot.get("per_day")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return None
    return value


def planned_per_day(care_plan: Mapping[str, Any] | None) -> dict[str, int]:
    """Readings a day the plan expects, per metric ({"weight": 1, "spo2": 2})."""
    out = {}
    for metric, slot in (care_plan or {}).items():
        per_day = slot_per_day(slot)
        if per_day is not None:
            out[metric] = per_day
    return out


def window(now: datetime, began: datetime, length: timedelta = WINDOW
           ) -> tuple[datetime, datetime]:
    """The adherence window ending at `now`: `length` back, or since monitoring began."""
    return max(now - length, began), now


def expected_readings(per_day: float, start: datetime, end: datetime) -> float:
    """Readings `per_day` a day over [start, end), unrounded."""
    return max(0.0, per_day * (end - start) / DAY)


def daily_counts(readings: Iterable[tuple[str, datetime, Iterable[str]]], zone: ZoneInfo
                 ) -> Counter[tuple[str, date]]:
    """Readings received per (metric, local day), from (metric, time, flags) triples."""
    counts: Counter[tuple[str, date]] = Counter()
    for metric, at, flags in readings:
        if not is_low_quality(flags):
            counts[(metric, service_date(at, zone))] += 1
    return counts


def capped_received(counts: Mapping[tuple[str, date], int], plan: Mapping[str, int]) -> int:
    """Readings that count towards the plan: each metric's day at most its `per_day`."""
    return sum(min(n, plan[metric]) for (metric, _day), n in counts.items() if metric in plan)


@dataclass(frozen=True)
class Adherence:
    """Readings received and expected over a window."""

    received: int
    expected: float

    @property
    def share(self) -> float | None:
        """Received over expected, at most 1 (a window's part-days can each hold a full
        day's readings); None when nothing is expected."""
        return min(1.0, self.received / self.expected) if self.expected else None


def adherence(care_plan: Mapping[str, Any] | None, start: datetime, end: datetime,
              counts: Mapping[tuple[str, date], int]) -> Adherence | None:
    """Adherence over [start, end) from the window's daily counts; None without a plan."""
    plan = planned_per_day(care_plan)
    if not plan:
        return None
    return Adherence(capped_received(counts, plan),
                     expected_readings(sum(plan.values()), start, end))
