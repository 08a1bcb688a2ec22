"""Units, conversions and plausibility ranges."""

from __future__ import annotations

import math

import pytest

from telehub.domain.units import (
    SPECS,
    Metric,
    Unit,
    format_limit,
    format_value,
    normalise,
    parse_metric,
    parse_unit,
    split_quantity,
)
from telehub.errors import ValidationError


@pytest.mark.parametrize(("metric", "value", "unit", "expected"), [
    (Metric.WEIGHT, 80.0, "kg", 80.0),
    (Metric.WEIGHT, 176.37, "lb", 176.37 * 0.45359237),
    (Metric.WEIGHT, 12.5, "st", 12.5 * 6.35029318),
    (Metric.GLUCOSE, 5.5, "mmol/L", 5.5),
    (Metric.GLUCOSE, 70.0, "mg/dL", 70.0 / 18.016),
    (Metric.SPO2, 94, "%", 94.0),
    (Metric.PULSE, 72, "bpm", 72.0),
    (Metric.PULSE, 72, "/min", 72.0),
])
def test_accepted_units_convert_to_canonical(metric: Metric, value: float, unit: str,
                                             expected: float) -> None:
    assert math.isclose(normalise(metric, value, parse_unit(metric, unit)), expected)


def test_70_mgdl_is_3_885_not_3_9() -> None:
    assert round(normalise(Metric.GLUCOSE, 70, Unit.MG_DL), 3) == 3.885


@pytest.mark.parametrize(("metric", "unit"), [(Metric.SPO2, "kg"), (Metric.WEIGHT, "mg/dL"),
                                              (Metric.GLUCOSE, "furlongs")])
def test_unit_not_accepted_for_metric_is_wrong_unit(metric: Metric, unit: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_unit(metric, unit)
    assert err.value.code == "wrong-unit"


@pytest.mark.parametrize(("metric", "low", "high"), [
    (Metric.WEIGHT, 20, 350), (Metric.SPO2, 50, 100), (Metric.PULSE, 20, 250),
    (Metric.GLUCOSE, 0.6, 40),
])
def test_plausibility_boundaries_inclusive(metric: Metric, low: float, high: float) -> None:
    unit = SPECS[metric].canonical
    assert normalise(metric, low, unit) == low
    assert normalise(metric, high, unit) == high
    for bad in (low - 0.01, high + 0.01):
        with pytest.raises(ValidationError) as err:
            normalise(metric, bad, unit)
        assert err.value.code == "implausible-value"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, True, "94"])
def test_non_finite_or_non_number_refused(value: object) -> None:
    with pytest.raises(ValidationError) as err:
        normalise(Metric.SPO2, value, Unit.PERCENT)  # type: ignore[arg-type]
    assert err.value.code == "not-a-number"


def test_unknown_metric() -> None:
    with pytest.raises(ValidationError) as err:
        parse_metric("cholesterol")
    assert err.value.code == "unknown-metric"


def test_lb_weight_outside_range_after_conversion() -> None:
    with pytest.raises(ValidationError):
        normalise(Metric.WEIGHT, 40, Unit.LB)  # 18.1 kg


@pytest.mark.parametrize(("text", "expected"), [
    ("3.5 mmol/L", ("3.5", "mmol/L")), ("63mg/dL", ("63", "mg/dL")), (" 71.5 kg ", ("71.5", "kg")),
    ("3.5", ("3.5", None)), ("fast", ("fast", None)), (".5 st", (".5", "st")),
])
def test_a_typed_quantity_splits_into_number_and_unit(text: str,
                                                      expected: tuple[str, str | None]) -> None:
    assert split_quantity(text) == expected


def test_a_value_in_another_unit_is_shown_canonical_first_and_converts_back() -> None:
    glucose = SPECS[Metric.GLUCOSE]
    assert glucose.from_canonical(glucose.to_canonical(63.0, Unit.MG_DL), Unit.MG_DL) == \
        pytest.approx(63.0)
    assert format_limit(Metric.GLUCOSE, 63.056, Unit.MG_DL) == "3.5 mmol/L (63 mg/dL)"
    assert format_limit(Metric.GLUCOSE, 54, Unit.MG_DL) == "3.0 mmol/L (54 mg/dL)"
    assert format_limit(Metric.GLUCOSE, 4.0, Unit.MMOL_L) == "4.0 mmol/L"
    assert format_limit(Metric.SPO2, 91, Unit.PERCENT) == "91 %"
    assert format_limit(Metric.WEIGHT, 2.25, Unit.KG) == "2.25 kg"


def test_glucose_reads_mmol_per_litre_first_with_what_was_sent_in_brackets() -> None:
    assert format_value(Metric.GLUCOSE, 54 / 18.016, 54, "mg/dL") == "3.0 mmol/L (54 mg/dL)"
    assert format_value(Metric.GLUCOSE, 5.5, 5.5, "mmol/L") == "5.5 mmol/L"
    assert format_limit(Metric.GLUCOSE, 250, "mg/dL") == "13.9 mmol/L (250 mg/dL)"
    assert format_limit(Metric.GLUCOSE, 4.0, "mmol/L") == "4.0 mmol/L"
    assert format_limit(Metric.GLUCOSE, 3.95) == "3.95 mmol/L"   # never rounded into 4.0
    assert format_limit(Metric.SPO2, 91) == "91 %"
