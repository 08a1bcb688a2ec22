"""Pure dashboard helpers: display times (incl. the DST changes), "ago", RAG, values with units."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dashboard.components.formatting import (
    Rag,
    conditions_text,
    format_adherence,
    format_battery,
    format_online,
    format_reading,
    metric_label,
    outcome_text,
    rag_badge,
    rag_chip,
    rag_of,
    schedule_text,
    severity_chip,
)
from dashboard.components.threshold_editor import changed_params, unit_choices
from dashboard.components.times import (
    chart_window,
    format_local,
    local_day_start,
    parse_time,
    time_ago,
)
from telehub.domain.codes import Condition, Outcome
from telehub.domain.patients import age_on

LONDON = ZoneInfo("Europe/London")


def test_winter_times_are_shown_in_gmt() -> None:
    assert format_local("2026-01-15T09:30:00Z", LONDON) == "Thu 15 Jan 2026 09:30 GMT"


def test_summer_times_are_shown_in_bst_one_hour_ahead() -> None:
    assert format_local("2026-07-15T09:30:00Z", LONDON) == "Wed 15 Jul 2026 10:30 BST"


def test_spring_forward_moves_the_clock_at_one_utc() -> None:
    # 29 March 2026: clocks go from 01:00 GMT to 02:00 BST.
    assert format_local("2026-03-29T00:59:00Z", LONDON) == "Sun 29 Mar 2026 00:59 GMT"
    assert format_local("2026-03-29T01:00:00Z", LONDON) == "Sun 29 Mar 2026 02:00 BST"


def test_autumn_back_shows_the_repeated_hour_with_its_zone() -> None:
    # 25 October 2026: 01:30 local happens twice, first BST then GMT.
    assert format_local("2026-10-25T00:30:00Z", LONDON) == "Sun 25 Oct 2026 01:30 BST"
    assert format_local("2026-10-25T01:30:00Z", LONDON) == "Sun 25 Oct 2026 01:30 GMT"


def test_local_midnight_follows_the_zone_across_dst() -> None:
    assert local_day_start(datetime(2026, 7, 1, 12, tzinfo=UTC), LONDON) == datetime(
        2026, 6, 30, 23, tzinfo=UTC)
    assert local_day_start(datetime(2026, 12, 1, 12, tzinfo=UTC), LONDON) == datetime(
        2026, 12, 1, 0, tzinfo=UTC)


def test_naive_api_times_are_taken_as_utc() -> None:
    assert parse_time("2026-01-15T09:30:00") == datetime(2026, 1, 15, 9, 30, tzinfo=UTC)
    assert format_local(None, LONDON) == "—"


@pytest.mark.parametrize(("delta", "text"), [
    (timedelta(seconds=20), "just now"),
    (timedelta(minutes=5), "5 min ago"),
    (timedelta(hours=2, minutes=59), "2 h ago"),
    (timedelta(hours=47), "47 h ago"),
    (timedelta(days=3, hours=5), "3 d ago"),
    (timedelta(minutes=-3), "in the future"),
])
def test_time_ago_speaks_in_minutes_hours_and_days(delta: timedelta, text: str) -> None:
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    assert time_ago(now - delta, now) == text
    assert time_ago(None, now) == "never"


def test_short_ranges_are_raw_and_long_ranges_bucketed_by_day() -> None:
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    week = chart_window(7, now)
    assert (week.start, week.end, week.bucket) == (now - timedelta(days=7), now, "raw")
    assert chart_window(30, now).bucket == "raw"
    assert chart_window(90, now).bucket == "day"
    assert chart_window(365, now).start == now - timedelta(days=365)
    with pytest.raises(ValueError, match="range must be one of"):
        chart_window(14, now)


def test_rag_is_red_for_red_alerts_then_amber_then_green() -> None:
    assert rag_of(1, 3, overdue=True) is Rag.RED
    assert rag_of(0, 1) is Rag.AMBER
    assert rag_of(0, 0, overdue=True) is Rag.AMBER
    assert rag_of(0, 0) is Rag.GREEN


def test_chips_carry_the_word_not_only_the_colour() -> None:
    assert rag_chip("red").endswith("RED")
    assert rag_chip(Rag.AMBER).endswith("AMBER")
    assert "GREEN" in rag_badge("green") and rag_badge("green").startswith(":green-badge[")
    assert severity_chip("info").endswith("INFO")
    with pytest.raises(ValueError):
        rag_chip("purple")


def test_values_always_carry_their_unit() -> None:
    assert format_reading("spo2", 93.6) == "94 %"
    assert format_reading("weight", 82.44) == "82.4 kg"
    assert format_reading("glucose", 7.25) == "7.2 mmol/L"
    assert format_reading("pulse", 88) == "88 /min"
    assert format_reading("pulse", None) == "—"
    assert metric_label("spo2") == "SpO2 (%)"
    assert metric_label("temperature") == "temperature"  # a care plan naming a new metric


def test_age_counts_whole_years_up_to_the_birthday() -> None:
    assert age_on(date(1940, 11, 27), date(2026, 11, 26)) == 85
    assert age_on(date(1940, 11, 26), date(2026, 11, 26)) == 86
    assert age_on(date(1940, 2, 29), date(2026, 2, 28)) == 85


def test_device_and_adherence_texts() -> None:
    assert format_battery(None) == "battery unknown"
    assert format_battery(12) == "🪫 12 % low"
    assert format_battery(80) == "🔋 80 %"
    assert format_online(True) == "online" and format_online(False) == "offline"
    assert format_online(None) == "status unknown"
    assert format_adherence(0.866) == "87 %" and format_adherence(None) == "—"
    assert conditions_text(["copd", "heart-failure"]) == "COPD, heart failure"
    assert conditions_text([]) == "none recorded"


def test_every_outcome_and_condition_the_api_accepts_reads_as_words() -> None:
    # The pickers offer the codes' own lists, so each value needs words, not a code.
    for outcome in Outcome:
        assert "-" not in outcome_text(outcome)
    for condition in Condition:
        assert "-" not in conditions_text([condition])
    assert outcome_text("referred-to-gp") == "referred to GP"
    assert outcome_text(None) == ""
    assert conditions_text(["type1-diabetes", "copd"]) == "type 1 diabetes, COPD"


def test_the_threshold_form_sends_only_changed_values_each_with_its_unit() -> None:
    entry = {"below": {"value": 3.0, "unit": "mmol/L"}, "count": {"value": 2, "unit": None},
             "distinct_days": {"value": True, "unit": None}}
    untouched = {"below": ("3", "mmol/L"), "count": ("2", None), "distinct_days": (True, None)}
    assert changed_params(entry, untouched) == {}   # 3.0 mmol/L is not re-sent as 54.05 mg/dL
    assert changed_params(entry, {**untouched, "below": ("3.5", "mmol/L")}) == {
        "below": {"value": "3.5", "unit": "mmol/L"}}
    assert changed_params(entry, {**untouched, "below": ("3", "mg/dL")}) == {
        "below": {"value": "3", "unit": "mg/dL"}}      # refused by the API as implausible
    assert changed_params(entry, {**untouched, "distinct_days": (False, None)}) == {
        "distinct_days": {"value": False, "unit": None}}
    assert unit_choices("mmol/L") == ["mmol/L", "mg/dL"] == unit_choices("mg/dL")
    assert unit_choices("%") == ["%"] and unit_choices(None) == []


def test_a_schedule_reads_the_same_in_the_header_and_the_care_plan() -> None:
    assert schedule_text([("spo2", 2, None), ("weight", 1, "morning")]) == (
        "SpO2 (%) 2×/day; Weight (kg) 1×/day (morning)")
    assert schedule_text([]) == "no schedule set"
