"""The simulated clock: history as fast as the broker takes it, then compressed, then real time.

Reading times are back-dated: the clock starts in the past and never runs ahead
of the real time (the hub refuses readings from the future), so `--speed 1440`
replays a day per real minute until it catches up with now, then keeps pace.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from telehub.domain import clock
from telehub.errors import ValidationError

_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*")
_UNITS = {"s": 1, "": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> timedelta:
    """'30d', '12h', '90m', '45s', '2w' (a bare number is seconds)."""
    match = _DURATION.fullmatch(text)
    if not match:
        raise ValidationError("bad-duration", f"'{text}' is not a duration (e.g. 30d, 12h, 90m).")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def utcnow() -> datetime:
    """The service's current time, in UTC (the machine's, unless a clock is installed)."""
    return clock.now()


@dataclass
class SimClock:
    """Simulated time: fixed at `fast_until` during the fast phase, then `speed`× real time."""

    fast_until: datetime
    speed: float = 1.0
    _started: float | None = field(default=None, init=False)   # monotonic start of compression

    @property
    def fast(self) -> bool:
        """True while history is being written as fast as possible."""
        return self._started is None

    def start_compressed(self) -> None:
        """Leave the fast phase: from now on time runs at `speed`."""
        if self._started is None:
            self._started = time.monotonic()

    def now(self) -> datetime:
        """The simulated time (never later than the real time)."""
        if self._started is None:
            return self.fast_until
        if self.speed <= 1.0:
            return utcnow()     # real time: no compressed stretch to run through
        elapsed = (time.monotonic() - self._started) * max(self.speed, 1.0)
        return min(self.fast_until + timedelta(seconds=elapsed), utcnow())
