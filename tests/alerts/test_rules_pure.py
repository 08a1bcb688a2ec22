"""Rule kinds as pure functions (no database): each default rule just either side of its edge."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from alerts.catalogue import Rule, load_catalogue
from alerts.rules import CHECKS, Point, Series
from alerts.sentences import limit_fields, render
from telehub.domain.units import Metric

LONDON = ZoneInfo("Europe/London")
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def _rule(rule_id: str) -> Rule:
    rule = load_catalogue().get(rule_id)
    assert rule is not None
    return rule


def _fires(rule_id: str, metric: Metric, values: Sequence[float], *, step: timedelta = DAY,
           dry: float | None = None, flags: Sequence[Sequence[str]] | None = None,
           params: dict[str, object] | None = None) -> bool:
    points = [Point(T0 + k * step, v, v, None, tuple(flags[k]) if flags else ())
              for k, v in enumerate(values)]
    series = Series(metric, points, LONDON, dry_weight_kg=dry)
    rule = _rule(rule_id)
    effective = {**rule.params, **(params or {})}
    return CHECKS[rule.kind](rule, effective, series, len(points) - 1) is not None


@pytest.mark.parametrize(("rule_id", "values", "fires"), [
    ("weight-gain-overnight", [80.0, 81.0, 82.0], True),
    ("weight-gain-overnight", [80.0, 81.0, 81.9], False),
    ("weight-gain-overnight", [80.1, 81.0, 82.0], False),
    ("weight-rise-1d", [80.0, 81.0], True),
    ("weight-rise-1d", [80.0, 80.9], False),
    ("weight-loss-3d", [82.0, 81.5, 81.0, 80.0], True),
    ("weight-loss-3d", [82.0, 81.5, 81.0, 80.1], False),
    ("weight-gain-3d", [80.0, 80.0, 80.0, 82.0], True),
    ("weight-gain-3d", [80.0, 80.0, 80.0, 81.9], False),
    ("weight-gain-3d", [78.0, 80.0, 80.0, 80.0, 81.9], False),   # 4 days back does not count
    ("weight-gain-2d", [80.0, 80.0, 82.0], True),
    ("weight-gain-2d", [79.0, 80.1, 80.1, 82.0], False),
    ("weight-gain-7d", [80.0, 81, 81, 81, 81, 81, 81, 82.3], True),
    ("weight-gain-7d", [80.0, 81, 81, 81, 81, 81, 81, 82.2], False),
    ("weight-scale-error", [80.0, 85.1], True),
    ("weight-scale-error", [80.0, 85.0], False),
])
def test_weight_rule_edges(rule_id: str, values: list[float], fires: bool) -> None:
    assert _fires(rule_id, Metric.WEIGHT, values) is fires


def test_weight_loss_below_dry_weight() -> None:
    assert _fires("weight-loss-3d", Metric.WEIGHT, [70.0, 69.9], dry=72.0)      # 2.1 below
    assert not _fires("weight-loss-3d", Metric.WEIGHT, [70.0, 70.0], dry=72.0)  # exactly 2.0


def test_weight_above_dry_needs_a_dry_weight() -> None:
    assert not _fires("weight-above-dry", Metric.WEIGHT, [90.0, 90.0])
    assert _fires("weight-above-dry", Metric.WEIGHT, [80.0, 80.0],
                  params={"dry_weight_kg": 78.0})


def test_scale_error_between_good_readings_is_left_out_of_the_daily_weights() -> None:
    # 80 → 74 (error) → 80.5: the 74 is ignored, so no 7.5 kg "gain" and no second error.
    assert not _fires("weight-gain-3d", Metric.WEIGHT, [80.0, 74.0, 80.5, 81.5])
    assert _fires("weight-gain-3d", Metric.WEIGHT, [80.0, 74.0, 80.5, 82.0])
    assert not _fires("weight-scale-error", Metric.WEIGHT, [80.0, 90.0, 80.5])


@pytest.mark.parametrize(("values", "fires"), [
    ([96, 96, 96, 96, 96, 93, 93], True), ([96, 96, 96, 96, 96, 93, 94], False),
    ([96, 96, 96, 96, 93, 93], False),                      # only 4 baseline readings
])
def test_baseline_drop_edges(values: list[float], fires: bool) -> None:
    # Baseline readings one a day; the last two within the excluded 24 h.
    n = len(values)
    step = [T0 + k * DAY for k in range(n - 2)] + [T0 + (n - 2) * DAY, T0 + (n - 2) * DAY
                                                   + timedelta(hours=1)]
    points = [Point(t, v) for t, v in zip(step, values, strict=True)]
    rule = _rule("spo2-baseline-drop")
    series = Series(Metric.SPO2, points, LONDON)
    assert (CHECKS["baseline-drop"](rule, rule.params, series, n - 1) is not None) is fires


def test_clinician_baseline_is_used_without_history() -> None:
    assert _fires("spo2-baseline-drop", Metric.SPO2, [91, 91], step=timedelta(hours=1),
                  params={"baseline": 94})
    assert not _fires("spo2-baseline-drop", Metric.SPO2, [92, 91], step=timedelta(hours=1),
                      params={"baseline": 94})


@pytest.mark.parametrize(("values", "fires"), [
    ([14.0, 14.0, 14.0], True), ([14.0, 13.8, 14.0], False), ([14.0, 14.0], False),
])
def test_persistent_high_edges(values: list[float], fires: bool) -> None:
    assert _fires("glucose-high-persistent", Metric.GLUCOSE, values,
                  step=timedelta(hours=20)) is fires


def test_persistent_high_window_is_48_hours() -> None:
    assert not _fires("glucose-high-persistent", Metric.GLUCOSE, [14.0, 14.0, 14.0],
                      step=timedelta(hours=24, minutes=1))


def test_low_quality_readings_are_left_out_and_counted() -> None:
    flags = [("low-quality",), (), ("low-quality",)]
    # Consecutive means consecutive valid readings: the low-quality one in between is skipped.
    assert _fires("pulse-info", Metric.PULSE, [100, 100, 100],
                  flags=[(), ("low-quality",), ()])
    assert not _fires("pulse-info", Metric.PULSE, [70, 100, 100],
                      flags=[(), (), ("low-quality",)])
    assert _fires("check-device-use", Metric.SPO2, [97, 97, 97], step=timedelta(hours=11),
                  flags=[("low-quality",)] * 3)
    assert not _fires("check-device-use", Metric.SPO2, [97, 97, 97], step=timedelta(hours=11),
                      flags=flags)
    assert not _fires("check-device-use", Metric.SPO2, [97, 97, 97], step=timedelta(hours=12),
                      flags=[("low-quality",)] * 3)          # 24 h apart: outside the window


def test_every_sentence_renders_without_gaps() -> None:
    fields = {"value": "88 %", "time": "08:00 on 26 Nov 2026", "date": "26 Nov 2026",
              "label": "SpO2", "change": "2.1", "reference": "80.0 kg on 23 Nov",
              "direction": "below", "previous": "80.0 kg", "baseline": "96", "n": 3,
              "would": "red", "since": "08:00", "hours": "72", "per_day": "1", "detail": "x",
              "devices": "oximeter ox-1", "missing": 2}
    for rule in load_catalogue().rules:
        text = render(rule.sentence, {**rule.params, **limit_fields(rule, rule.params), **fields})
        assert "?" not in text.replace("?)", ""), rule.id
        assert "{" not in text, rule.id


def test_glucose_limits_read_in_mmol_per_litre_first() -> None:
    """A limit the source states in mg/dL reads mmol/L first, the mg/dL in brackets; an
    individual limit in words follows the override, never a hard-coded conversion."""
    catalogue = load_catalogue()
    severe = catalogue.get("glucose-hypo-severe")
    persistent = catalogue.get("glucose-high-persistent")
    assert severe is not None and persistent is not None
    fields = {"value": "2.8 mmol/L (50 mg/dL)", "time": "08:00 on 26 Nov 2026", "n": 3}
    text = render(severe.sentence, {**severe.params, **limit_fields(severe, severe.params),
                                    **fields})
    assert "below 3.0 mmol/L (54 mg/dL)" in text and "mg/dL (3.0" not in text
    text = render(persistent.sentence, {**persistent.params,
                                        **limit_fields(persistent, persistent.params), **fields})
    assert "above 13.9 mmol/L (250 mg/dL)" in text
    own = {"below": 60}
    assert limit_fields(severe, own) == {"below_text": "3.3 mmol/L (60 mg/dL)"}
