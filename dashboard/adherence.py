"""A patient's adherence: readings received against what the care plan expects."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dashboard.client.patients import Bucket, Reading


@dataclass(frozen=True)
class Adherence:
    """Readings received and expected over a window (each day capped at the plan's count)."""

    received: int
    expected: int

    @property
    def share(self) -> float:
        """Received over expected, 0–1."""
        return self.received / self.expected if self.expected else 0.0


def per_day(care_plan: Mapping[str, Any]) -> dict[str, int]:
    """Readings a day the plan expects, per metric ({"weight": 1, "spo2": 2})."""
    out = {}
    for metric, slot in care_plan.items():
        count = slot.get("per_day") if isinstance(slot, Mapping) else None
        if isinstance(count, int) and not isinstance(count, bool) and count > 0:
            out[metric] = count
    return out


def adherence(care_plan: Mapping[str, Any], start: datetime, end: datetime, *,
              raw: Sequence[Reading] = (), buckets: Sequence[Bucket] = ()) -> Adherence | None:
    """Adherence over [start, end) from raw readings or daily buckets; None without a plan.

    As in the team statistics, a day counts at most the plan's readings for it (UTC days),
    so extra readings one day do not hide missing ones another.
    """
    plan = per_day(care_plan)
    if not plan:
        return None
    days = (end - start).total_seconds() / 86400
    expected = round(sum(plan.values()) * days)
    counts: Counter[tuple[str, Any]] = Counter()
    for r in raw:
        counts[(r.metric, r.time.astimezone(UTC).date())] += 1
    for b in buckets:
        counts[(b.metric, b.start.astimezone(UTC).date())] += b.n
    received = sum(min(n, plan[metric]) for (metric, _day), n in counts.items()
                   if metric in plan)
    return Adherence(min(received, expected), expected)
