"""The service clock and time zone: what "now" and "today" mean everywhere in Telehub.

Storage is UTC; a day, a morning, a night or "due today" is judged on the
service's local calendar (Europe/London unless TELEHUB_TIMEZONE says otherwise),
so 00:30 BST on 1 June is already 1 June. Code asks `now()` instead of
`datetime.now()`, so a test can run the whole service at 00:30, at 18:50 or on a
clock-change day by installing a clock (`use_clock`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

SERVICE_ZONE_NAME = "Europe/London"


class Clock(Protocol):
    """Something that says what time it is (timezone-aware, UTC)."""

    def now(self) -> datetime: ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        """The current time in UTC."""
        return datetime.now(UTC)


@dataclass
class FixedClock:
    """A clock that stands still until moved: for tests at a chosen hour."""

    at: datetime
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.at = as_utc(self.at)

    def now(self) -> datetime:
        """The time it was set to."""
        with self._lock:
            return self.at

    def set(self, at: datetime) -> None:
        """Move the clock to `at`."""
        with self._lock:
            self.at = as_utc(at)

    def advance(self, by: timedelta) -> None:
        """Move the clock on by `by`."""
        with self._lock:
            self.at += by


@dataclass(frozen=True)
class OffsetClock:
    """The machine's clock shifted by a fixed amount: a running service at another hour."""

    offset: timedelta

    def now(self) -> datetime:
        """The current time plus the offset."""
        return datetime.now(UTC) + self.offset


_clock: Clock = SystemClock()


def now() -> datetime:
    """The service's current time (UTC)."""
    return _clock.now()


def current() -> Clock:
    """The clock installed for this process."""
    return _clock


def set_clock(clock: Clock) -> Clock:
    """Install `clock` for the whole process; returns the one it replaced."""
    global _clock
    previous, _clock = _clock, clock
    return previous


@contextmanager
def use_clock(clock: Clock) -> Iterator[Clock]:
    """Run a block under `clock`, then put the previous clock back."""
    previous = set_clock(clock)
    try:
        yield clock
    finally:
        set_clock(previous)


def as_utc(at: datetime) -> datetime:
    """An aware datetime in UTC; a naive one is refused rather than guessed."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("a time without a time zone cannot be placed on the service clock")
    return at.astimezone(UTC)


def service_zone(name: str | None = None) -> ZoneInfo:
    """The service's time zone (TELEHUB_TIMEZONE, Europe/London by default)."""
    return ZoneInfo(name or SERVICE_ZONE_NAME)


# The span of days a request may name (a report's week or month, a search window): no
# Telehub record is older than the earliest birth date the patients table takes, none is
# planned past 2199, and date arithmetic near year 1 or 9999 would overflow.
EARLIEST_DAY = date(1900, 1, 1)
LATEST_DAY = date(2199, 12, 31)


def in_service_span(at: date | datetime) -> bool:
    """True when `at` (a day, or an instant's own calendar day) lies in the service's span."""
    day = at.date() if isinstance(at, datetime) else at
    return EARLIEST_DAY <= day <= LATEST_DAY


def service_span_text() -> str:
    """The span in words, for a message refusing a date outside it."""
    return f"between {EARLIEST_DAY.isoformat()} and {LATEST_DAY.isoformat()}"


def service_date(at: datetime | None = None, zone: ZoneInfo | None = None) -> date:
    """The local calendar date at `at` (default: now): what "today" means for a nurse."""
    return as_utc(at or now()).astimezone(zone or service_zone()).date()


def today(zone: ZoneInfo | None = None) -> date:
    """Today's date on the service's calendar."""
    return service_date(None, zone)


def day_start(day: date, zone: ZoneInfo | None = None) -> datetime:
    """The UTC instant local midnight begins `day` (23 or 25 hours apart on clock-change days)."""
    return datetime.combine(day, time(0), tzinfo=zone or service_zone()).astimezone(UTC)


def day_bounds(day: date, zone: ZoneInfo | None = None) -> tuple[datetime, datetime]:
    """The UTC half-open range [start, end) of the local calendar day `day`."""
    return day_start(day, zone), day_start(day + timedelta(days=1), zone)


def last_midnight(t: datetime, zone: ZoneInfo | None = None) -> datetime:
    """The UTC instant of the local midnight at or before `t`."""
    return day_start(service_date(t, zone), zone)


def next_midnight(t: datetime, zone: ZoneInfo | None = None) -> datetime:
    """The UTC instant of the local midnight at or after `t` (`t` itself when it is one)."""
    midnight = last_midnight(t, zone)
    if midnight == as_utc(t):
        return midnight
    return day_start(service_date(t, zone) + timedelta(days=1), zone)


def local_hour(at: datetime, zone: ZoneInfo | None = None) -> int:
    """The hour on the service's wall clock at `at` (0–23)."""
    return as_utc(at).astimezone(zone or service_zone()).hour
