"""The one escalation rule: red, amber and telecare alerts, the working day, clock changes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from alerts.escalation import escalation_deadline, escalation_due, escalation_note

LONDON = ZoneInfo("Europe/London")
MINUTE = timedelta(minutes=1)


def _alert(severity: str, since: datetime, rule_id: str = "spo2-low", *, red: int = 15,
           day_end: time = time(17, 0), telecare: int = 2) -> dict[str, Any]:
    return {"severity": severity, "rule_id": rule_id, "since": since,
            "red_escalation_minutes": red, "working_day_end": day_end,
            "telecare_escalation_minutes": telecare}


def test_red_escalates_after_the_teams_red_window() -> None:
    t0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    alert = _alert("red", t0)
    assert not escalation_due(alert, t0 + 14 * MINUTE, LONDON)
    assert escalation_due(alert, t0 + 15 * MINUTE, LONDON)
    assert escalation_due(_alert("red", t0, red=5), t0 + 5 * MINUTE, LONDON)
    assert "15 minutes" in escalation_note(alert)


def test_telecare_escalates_on_its_own_shorter_window_whatever_the_red_window() -> None:
    t0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    fall = _alert("red", t0, "telecare-fall")
    assert not escalation_due(fall, t0 + timedelta(seconds=119), LONDON)
    assert escalation_due(fall, t0 + timedelta(seconds=120), LONDON)
    slower = _alert("red", t0, "telecare-smoke", telecare=5)
    assert not escalation_due(slower, t0 + 4 * MINUTE, LONDON)
    assert escalation_due(slower, t0 + 5 * MINUTE, LONDON)
    assert "Telecare alert not acknowledged within 2 minutes" in escalation_note(fall)


def test_info_never_escalates() -> None:
    t0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    assert not escalation_due(_alert("info", t0), t0 + timedelta(days=3), LONDON)


@pytest.mark.parametrize(("raised", "deadline"), [
    # In working hours: the end of that working day.
    (datetime(2026, 11, 26, 10, 0, tzinfo=UTC), datetime(2026, 11, 26, 17, 0, tzinfo=UTC)),
    # At or after the end of the working day: the end of the next one.
    (datetime(2026, 11, 26, 17, 0, tzinfo=UTC), datetime(2026, 11, 27, 17, 0, tzinfo=UTC)),
    (datetime(2026, 11, 26, 23, 30, tzinfo=UTC), datetime(2026, 11, 27, 17, 0, tzinfo=UTC)),
    # 00:30 BST is already the next local day: its working day ends 17:00 BST (16:00 UTC).
    (datetime(2026, 6, 1, 23, 30, tzinfo=UTC), datetime(2026, 6, 2, 16, 0, tzinfo=UTC)),
])
def test_amber_escalates_at_the_end_of_the_local_working_day(raised: datetime,
                                                               deadline: datetime) -> None:
    alert = _alert("amber", raised)
    assert escalation_deadline(alert, LONDON) == deadline
    assert not escalation_due(alert, deadline - MINUTE, LONDON)
    assert escalation_due(alert, deadline, LONDON)


@pytest.mark.parametrize(("raised", "deadline"), [
    # Clocks go forward at 01:00 UTC on 29 March 2026: 17:00 that day is BST (16:00 UTC).
    (datetime(2026, 3, 28, 18, 0, tzinfo=UTC), datetime(2026, 3, 29, 16, 0, tzinfo=UTC)),
    (datetime(2026, 3, 29, 8, 0, tzinfo=UTC), datetime(2026, 3, 29, 16, 0, tzinfo=UTC)),
    # Clocks go back at 01:00 UTC on 25 October 2026: 17:00 that day is GMT (17:00 UTC),
    # and 16:30 UTC on the 24th is already 17:30 BST, after hours.
    (datetime(2026, 10, 24, 16, 30, tzinfo=UTC), datetime(2026, 10, 25, 17, 0, tzinfo=UTC)),
    (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 25, 17, 0, tzinfo=UTC)),
])
def test_the_working_day_ends_at_17_00_wall_clock_on_a_clock_change_day(
        raised: datetime, deadline: datetime) -> None:
    alert = _alert("amber", raised)
    assert escalation_deadline(alert, LONDON) == deadline
    assert escalation_due(alert, deadline, LONDON)
    assert not escalation_due(alert, deadline - MINUTE, LONDON)


def test_a_red_window_on_a_clock_change_night_is_elapsed_time_not_wall_clock() -> None:
    """15 minutes across 01:00 GMT → 02:00 BST are 15 real minutes, not 75 or none."""
    raised = datetime(2026, 3, 29, 0, 50, tzinfo=UTC)      # 00:50 GMT
    alert = _alert("red", raised)
    assert escalation_deadline(alert, LONDON) == datetime(2026, 3, 29, 1, 5, tzinfo=UTC)
