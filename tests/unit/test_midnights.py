"""Local midnights on the service clock: the edges of the days that retention keeps whole and
that the daily aggregates hold, on ordinary and clock-change days."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from telehub.domain.clock import last_midnight, next_midnight

LONDON = ZoneInfo("Europe/London")


@pytest.mark.parametrize("at, before, after", [
    # A TimescaleDB chunk starts at a UTC midnight: 01:00 in summer, inside a London day.
    (datetime(2026, 7, 2, 0, 0, tzinfo=UTC), datetime(2026, 7, 1, 23, 0, tzinfo=UTC),
     datetime(2026, 7, 2, 23, 0, tzinfo=UTC)),
    # In winter the same instant is a London midnight itself: both edges are that instant.
    (datetime(2026, 1, 8, 0, 0, tzinfo=UTC), datetime(2026, 1, 8, 0, 0, tzinfo=UTC),
     datetime(2026, 1, 8, 0, 0, tzinfo=UTC)),
    # 29 March 2026 has 23 hours, 25 October 25.
    (datetime(2026, 3, 29, 12, 0, tzinfo=UTC), datetime(2026, 3, 29, 0, 0, tzinfo=UTC),
     datetime(2026, 3, 29, 23, 0, tzinfo=UTC)),
    (datetime(2026, 10, 25, 12, 0, tzinfo=UTC), datetime(2026, 10, 24, 23, 0, tzinfo=UTC),
     datetime(2026, 10, 26, 0, 0, tzinfo=UTC)),
])
def test_the_local_midnights_either_side_of_an_instant(at: datetime, before: datetime,
                                                       after: datetime) -> None:
    assert last_midnight(at, LONDON) == before
    assert next_midnight(at, LONDON) == after
