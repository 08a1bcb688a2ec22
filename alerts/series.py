"""One patient's readings of one metric as the rule kinds read them, with the summaries the
kinds need: the last N valid readings, the valid readings of a time window, the number of
low-quality readings in a window, and memoised daily weights and scale errors.

Each index is built once per series (one pass over its points) and then answered by
slicing or bisection, so a rule no longer copies or scans the history before a reading
for every rule and reading; what a window holds (a baseline's readings, a count's
breaches) is still read. Points come oldest first; a series whose points are not in time order (only
hand-built ones) is answered by scanning, with the same results."""

from __future__ import annotations

import functools
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, TypeVar
from zoneinfo import ZoneInfo

from telehub.domain.codes import is_low_quality
from telehub.domain.units import Metric

T = TypeVar("T")


class Point(NamedTuple):
    """One stored reading as the rules see it (canonical value plus what the device sent)."""

    time: datetime
    value: float
    raw_value: float | None = None
    raw_unit: str | None = None
    flags: tuple[str, ...] = ()
    device_id: int | None = None
    key: str | None = None        # the reading key: a device may send two readings at one time

    @property
    def low_quality(self) -> bool:
        """The device flagged the reading as unreliable: shown, but kept out of threshold rules."""
        return is_low_quality(self.flags)


@dataclass(frozen=True)
class Series:
    """A patient's readings of one metric, oldest first, and how to read them."""

    metric: Metric
    points: Sequence[Point]
    zone: ZoneInfo
    morning: bool = False                 # weight: the care plan asks for morning weights
    dry_weight_kg: float | None = None    # weight: the clinician-set dry weight
    jump_kg: float = 5.0                  # weight: a jump this big is a scale error

    def upto(self, index: int) -> Sequence[Point]:
        """The points up to and including `index`."""
        return self.points[: index + 1]

    @functools.cached_property
    def _valid_prefix(self) -> tuple[list[Point], list[int]]:
        valid: list[Point] = []
        counts: list[int] = []
        for p in self.points:
            if not p.low_quality:
                valid.append(p)
            counts.append(len(valid))
        return valid, counts

    @functools.cached_property
    def _ordered(self) -> bool:
        points = self.points
        return all(points[k].time <= points[k + 1].time for k in range(len(points) - 1))

    @functools.cached_property
    def _valid_times(self) -> list[datetime]:
        return [p.time for p in self._valid_prefix[0]]

    @functools.cached_property
    def _low_quality(self) -> tuple[list[datetime], list[int]]:
        times: list[datetime] = []
        counts: list[int] = []
        for p in self.points:
            if p.low_quality:
                times.append(p.time)
            counts.append(len(times))
        return times, counts

    @functools.cached_property
    def _memo(self) -> dict[Any, Any]:
        return {}

    def memo(self, key: Any, compute: Callable[[], T]) -> T:
        """`compute()`, once per key for this series (summaries shared by several rules)."""
        memo = self._memo
        if key not in memo:
            memo[key] = compute()
        return memo[key]  # type: ignore[no-any-return]

    def valid_count(self, index: int) -> int:
        """How many valid points there are up to and including `index`."""
        return 0 if index < 0 else self._valid_prefix[1][index]

    def valid_upto(self, index: int) -> Sequence[Point]:
        """The valid (not low-quality) points up to and including `index`."""
        return self._valid_prefix[0][: self.valid_count(index)]

    def last_valid(self, index: int, n: int) -> Sequence[Point]:
        """`valid_upto(index)[-n:]`, without copying the history before them."""
        c = self.valid_count(index)
        valid = self._valid_prefix[0]
        if n <= 0:
            return valid[:c][-n:]
        return valid[max(0, c - n):c]

    def valid_between(self, index: int, start: datetime, end: datetime | None = None, *,
                      after: bool = False) -> Sequence[Point]:
        """The valid points up to `index` timed from `start` (or after it, with `after`) and
        before `end` when given."""
        c = self.valid_count(index)
        valid = self._valid_prefix[0]
        if not self._ordered:
            return [p for p in valid[:c] if (p.time > start if after else p.time >= start)
                    and (end is None or p.time < end)]
        times = self._valid_times
        lo = (bisect_right if after else bisect_left)(times, start, 0, c)
        hi = c if end is None else max(lo, bisect_left(times, end, lo, c))
        return valid[lo:hi]

    def low_quality_after(self, index: int, start: datetime) -> int:
        """How many low-quality points up to `index` are timed after `start`."""
        if index < 0:
            return 0
        times, counts = self._low_quality
        c = counts[index]
        if not self._ordered:
            return sum(1 for t in times[:c] if t > start)
        return c - bisect_right(times, start, 0, c)
