"""The hours of the London day every clinical test runs at: a clinical scenario must hold
whenever the suite runs (early morning, midday, evening, just after local midnight, and on
both UK clock-change days)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")

ANCHORS = [
    datetime(2026, 11, 26, 6, 30, tzinfo=LONDON),    # early morning, before the morning weigh
    datetime(2026, 11, 26, 12, 0, tzinfo=LONDON),    # midday
    datetime(2026, 11, 26, 18, 50, tzinfo=LONDON),   # the evening
    datetime(2026, 11, 27, 0, 30, tzinfo=LONDON),    # just after local midnight
    datetime(2026, 3, 29, 8, 0, tzinfo=LONDON),      # spring clock change (BST from 01:00)
    datetime(2026, 10, 25, 9, 0, tzinfo=LONDON),     # autumn clock change (a 25-hour day)
]


def anchor_id(at: datetime) -> str:
    """A test id for an anchor: 2026-11-26-1850."""
    return at.strftime("%Y-%m-%d-%H%M")


def days_before(at: datetime, days: int) -> datetime:
    """The instant `days` London calendar days before `at`, at the same London wall time: one
    reading a day stays one reading on each London day across a clock change (24-hour steps
    put two on the 25-hour autumn Sunday and none on the 23-hour spring one)."""
    return (at.astimezone(LONDON) - timedelta(days=days)).astimezone(UTC)
