"""A patient's adherence on the patient page, as telehub.domain.adherence defines it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from dashboard.client.patients import Bucket, Reading
from telehub.domain import adherence as definition
from telehub.domain.clock import service_date, service_zone


@dataclass(frozen=True)
class Adherence:
    """Readings received and expected over a window, in the words the page shows."""

    received: int
    expected: int

    @property
    def share(self) -> float:
        """Received over expected, 0–1."""
        return min(1.0, self.received / self.expected) if self.expected else 0.0


def per_day(care_plan: Mapping[str, Any]) -> dict[str, int]:
    """Readings a day the plan expects, per metric ({"weight": 1, "spo2": 2})."""
    return definition.planned_per_day(care_plan)


def adherence(care_plan: Mapping[str, Any], start: datetime, end: datetime, *,
              raw: Sequence[Reading] = (), buckets: Sequence[Bucket] = (),
              zone: ZoneInfo | None = None) -> Adherence | None:
    """Adherence over [start, end) from raw readings or daily buckets; None without a plan.

    Raw readings carry their flags, so low-quality ones are left out; a daily bucket's
    readings count on the local day it starts (its count cannot tell their flags)."""
    zone = zone or service_zone()
    counts: Counter[tuple[str, date]] = definition.daily_counts(
        ((r.metric, r.time, r.flags) for r in raw), zone)
    for b in buckets:
        counts[(b.metric, service_date(b.start, zone))] += b.n
    got = definition.adherence(care_plan, start, end, counts)
    if got is None:
        return None
    expected = round(got.expected)
    return Adherence(min(got.received, expected), expected)
