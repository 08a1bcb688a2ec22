"""The service day the hub exports for the team-silence rule: 08:00-20:00 on the London
calendar as UTC instants, whatever the hour and on both clock-change days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ingest.gauges import service_day
from tests.clock_anchors import ANCHORS, LONDON, anchor_id


@pytest.mark.parametrize("now", ANCHORS, ids=anchor_id)
def test_the_service_day_is_eight_to_eight_on_the_london_date(now: datetime) -> None:
    day = service_day(now.astimezone(UTC), LONDON)
    local = now.date()
    assert day.opens.astimezone(LONDON) == datetime(local.year, local.month, local.day, 8,
                                                    tzinfo=LONDON)
    assert day.closes - day.opens == timedelta(hours=12)
    before = local - timedelta(days=1)
    assert day.previous_close.astimezone(LONDON) == datetime(
        before.year, before.month, before.day, 20, tzinfo=LONDON)
    assert all(t.tzinfo is UTC for t in (day.opens, day.closes, day.previous_close))


@pytest.mark.parametrize(("now", "utc_open", "night_hours"), [
    (datetime(2026, 7, 1, 12, 0, tzinfo=UTC), datetime(2026, 7, 1, 7, 0, tzinfo=UTC), 12),
    (datetime(2026, 12, 1, 12, 0, tzinfo=UTC), datetime(2026, 12, 1, 8, 0, tzinfo=UTC), 12),
    # Sunday 29 March 2026: clocks go forward at 01:00 GMT, the night before is 11 h.
    (datetime(2026, 3, 29, 9, 0, tzinfo=UTC), datetime(2026, 3, 29, 7, 0, tzinfo=UTC), 11),
    # Sunday 25 October 2026: clocks go back at 01:00 GMT, the night before is 13 h.
    (datetime(2026, 10, 25, 9, 0, tzinfo=UTC), datetime(2026, 10, 25, 8, 0, tzinfo=UTC), 13),
    # 23:30 UTC in summer is already tomorrow in London.
    (datetime(2026, 7, 1, 23, 30, tzinfo=UTC), datetime(2026, 7, 2, 7, 0, tzinfo=UTC), 12),
])
def test_the_bounds_in_utc_follow_british_summer_time(now: datetime, utc_open: datetime,
                                                      night_hours: int) -> None:
    day = service_day(now, LONDON)
    assert day.opens == utc_open
    assert day.opens - day.previous_close == timedelta(hours=night_hours)
