"""The rules of a watch, without a database: what re-raises a watched alert, the summary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alerts.watch_rules import (
    HIGHER_SEVERITY,
    NEW_RULE,
    check_watch,
    re_raise_reason,
    started,
    summary_text,
    track,
)
from telehub.errors import ValidationError

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def _alert(severity: str, rules: list[str] | None, rule: str = "weight-gain-3d"
           ) -> dict[str, Any]:
    alert = {"id": 1, "status": "acknowledged", "rule_id": "weight-gain", "severity": severity,
             "occurrences": 1, "values": {"rule": rule}}
    if rules is not None:
        alert["watch_until"] = NOW + timedelta(days=2)
        alert["values"] = started(alert)
    return alert


def test_only_a_worse_finding_re_raises_a_watched_alert() -> None:
    watched = _alert("amber", [])
    assert watched["values"]["watch"]["rules"] == ["weight-gain-3d"]
    assert re_raise_reason(watched, "weight-gain-3d", "amber") is None
    assert re_raise_reason(watched, "weight-gain-7d", "amber") == NEW_RULE
    assert re_raise_reason(watched, "weight-loss-3d", "info") is None
    assert re_raise_reason(watched, "combined", "red") == HIGHER_SEVERITY
    assert re_raise_reason(_alert("amber", None), "weight-gain-7d", "red") is None


def test_track_keeps_the_worst_and_counts() -> None:
    def key(s: Any) -> tuple[int, float]:
        return (0, float(s["extreme"]))

    watch = {"rules": ["a"], "occurrences": 0, "worst": None}
    watch = track(watch, "a", 2, {"extreme": 3.0, "shown": "3"}, key)
    watch = track(watch, "b", 1, {"extreme": 1.0, "shown": "1"}, key)
    assert watch == {"rules": ["a", "b"], "occurrences": 3,
                     "worst": {"extreme": 3.0, "shown": "3"}}
    assert summary_text(watch) == "3 readings breached the rule meanwhile; worst 3."


@pytest.mark.parametrize(("until", "code"), [
    (NOW + timedelta(minutes=14), "bad-watch"),
    (NOW + timedelta(days=14, seconds=1), "bad-watch"),
    (datetime(2026, 11, 27, 10, 0), "bad-watch"),
])
def test_a_watch_is_bounded(until: datetime, code: str) -> None:
    with pytest.raises(ValidationError) as err:
        check_watch(until, "Known exacerbation", NOW)
    assert err.value.code == code
    assert check_watch(NOW + timedelta(days=14), " Recheck  ", NOW) == (
        NOW + timedelta(days=14), "Recheck")
