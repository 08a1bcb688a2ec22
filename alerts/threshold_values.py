"""A threshold parameter's value with its unit: read as entered, checked, converted to the unit
its rule compares in, and shown with that unit.

Which unit a parameter is in follows from its name: a band limit (`below`, `at_or_above`, …)
and `baseline` are in the rule's metric, compared in the unit the rule's source states
(`Rule.unit`, else the metric's canonical unit); a `*_kg` parameter is a weight in kg; every
other parameter (counts, hours, days, points, switches) is a plain number without a unit.
A glucose value means nothing without its unit (40 is a severe hypo in mg/dL and a
hyperosmolar state in mmol/L), so a glucose limit is refused without one; other metrics take
their canonical unit when none is given.

Plausible ranges for band limits, checked in the canonical unit whatever unit was entered:

* glucose, a low limit (`below`, `at_or_below`): 2.0–8.0 mmol/L (36–144 mg/dL). Below
  2.0 mmol/L an alert would come only near the meter's LO floor (0.6 mmol/L, itself red);
  above 8.0 mmol/L is inside most people's target range (NICE: 4–7 before meals, up to 9
  after), so the value is not a hypo threshold. The range also refuses each unit mistake:
  3.5 entered as mg/dL is 0.19 mmol/L, 63 or 35 entered as mmol/L is far above 8.0.
* glucose, a high limit (`above`, `at_or_above`): 5.0–33.3 mmol/L (90–600 mg/dL). 5.0 leaves
  room for pregnancy targets (NICE NG3: 5.3 fasting, 7.8 one hour after a meal) and still
  refuses 15 or 30 typed as mg/dL; above the meter's HI edge (33.3 mmol/L) no value could
  ever cross the limit.
* other metrics: the metric's plausibility range (SpO2 50–100 %, pulse 20–250 /min).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alerts.catalogue import Rule
from telehub.domain.units import (
    METER_RANGE,
    SPECS,
    Metric,
    Unit,
    format_limit,
    parse_unit,
    split_quantity,
)
from telehub.errors import ValidationError

# Parameters that are switches rather than numbers.
FLAG_PARAMS = frozenset({"distinct_days"})
LOW_LIMITS = frozenset({"below", "at_or_below"})
HIGH_LIMITS = frozenset({"above", "at_or_above"})
# Parameters in the rule's metric unit that are not limits (baseline 0 means "work it out").
_METRIC_AMOUNTS = frozenset({"baseline"})
# Plausible individual glucose limits in mmol/L (see the module docstring for why).
GLUCOSE_LOW_LIMIT_RANGE = (2.0, 8.0)
GLUCOSE_HIGH_LIMIT_RANGE = (5.0, METER_RANGE[Metric.GLUCOSE][1])
_OFF = ("", "none", "off")


@dataclass(frozen=True)
class ParamUnit:
    """The unit a rule compares one parameter in, and where a plausible value lies."""

    metric: Metric | None = None     # None: a count, hours, days or a switch, without a unit
    unit: Unit | None = None
    plausible: tuple[float, float] | None = None   # in the metric's canonical unit

    @property
    def required(self) -> bool:
        """True when a value means nothing without its unit (glucose)."""
        return self.metric is Metric.GLUCOSE


def param_unit(rule: Rule, name: str) -> ParamUnit:
    """The unit `rule` compares parameter `name` in (ParamUnit() for a plain number)."""
    if name.endswith("_kg"):
        return ParamUnit(Metric.WEIGHT, Unit.KG)
    if rule.metric is None or name not in LOW_LIMITS | HIGH_LIMITS | _METRIC_AMOUNTS:
        return ParamUnit()
    spec = SPECS[rule.metric]
    unit = Unit(rule.unit) if rule.unit else spec.canonical
    if name in _METRIC_AMOUNTS:
        return ParamUnit(rule.metric, unit)
    if rule.metric is Metric.GLUCOSE:
        plausible = GLUCOSE_LOW_LIMIT_RANGE if name in LOW_LIMITS else GLUCOSE_HIGH_LIMIT_RANGE
    else:
        plausible = (spec.plausible_min, spec.plausible_max)
    return ParamUnit(rule.metric, unit, plausible)


def threshold_value(rule: Rule, name: str, value: Any, unit: str | None = None
                    ) -> float | bool | None:
    """A parameter value as entered ("3.5 mmol/L", 63 with unit "mg/dL", {"value": 3.5,
    "unit": "mmol/L"}, "2", "off") in the unit `rule` compares it in; ValidationError when a
    glucose limit has no unit, the unit is not one of the metric's, or the value is not
    plausible for the unit."""
    if isinstance(value, Mapping):
        value, unit = value.get("value"), value.get("unit")
    if name in FLAG_PARAMS:
        return _switch(name, value)
    if isinstance(value, str) and unit is None:
        value, unit = split_quantity(value)
    if unit is not None and not str(unit).strip():
        unit = None
    number = _number(name, value)
    where = param_unit(rule, name)
    if number is None:
        return None
    if where.metric is None or where.unit is None:
        if unit is not None:
            raise ValidationError("unit-not-allowed", f"'{name}' is a plain number without "
                                  f"a unit, not '{value} {unit}'.")
        return number
    entered = _unit(rule, name, where, unit)
    spec = SPECS[where.metric]
    canonical = spec.to_canonical(number, entered)
    if where.plausible is not None:
        _check_plausible(rule, name, where, number, entered, canonical)
    # Converted only when entered in another unit: 63 mg/dL stays exactly 63.
    return number if entered == where.unit else spec.from_canonical(canonical, where.unit)


def _switch(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1"):
        return True
    if text in ("false", "no", "0"):
        return False
    raise ValidationError("bad-threshold", f"'{name}' is true or false, not '{value}'.")


def _number(name: str, value: Any) -> float | None:
    """A finite number >= 0, or None for a limit switched off."""
    if value is None or (isinstance(value, str) and value.strip().lower() in _OFF):
        return None
    if isinstance(value, bool):
        raise ValidationError("bad-threshold", f"'{name}' needs a number, not {value}.")
    try:
        number = float(value)
    except (TypeError, ValueError) as err:
        raise ValidationError("bad-threshold", f"'{name}' needs a number, not '{value}'.") from err
    if not math.isfinite(number) or number < 0:
        raise ValidationError("bad-threshold", f"'{name}' must be a finite number of 0 or more.")
    return number


def accepted_units(metric: Metric) -> str:
    """The units a value of `metric` may be entered in, canonical first ("mmol/L, mg/dL")."""
    return ", ".join(u.value for u in SPECS[metric].factors)


def _unit(rule: Rule, name: str, where: ParamUnit, unit: str | None) -> Unit:
    assert where.metric is not None
    accepted = accepted_units(where.metric)
    if unit is None and where.required:
        raise ValidationError(
            "missing-unit", f"'{name}' of {rule.id} needs its unit, e.g. {name}=3.5 mmol/L "
            f"(accepted: {accepted}); a glucose number without one is never guessed.")
    try:
        return parse_unit(where.metric, unit)
    except ValidationError as err:
        raise ValidationError("wrong-unit", f"'{unit}' is not a unit for '{name}' of "
                              f"{rule.id} (accepted: {accepted}).") from err


def _check_plausible(rule: Rule, name: str, where: ParamUnit, number: float, entered: Unit,
                     canonical: float) -> None:
    assert where.metric is not None and where.plausible is not None
    low, high = where.plausible
    if low <= canonical <= high:
        return
    spec = SPECS[where.metric]
    kind = "low" if name in LOW_LIMITS else "high"
    shown = f"{low:.{spec.decimals}f}–{high:.{spec.decimals}f} {spec.canonical.value}"
    for other in spec.factors:
        if other != spec.canonical:
            shown += (f", {spec.from_canonical(low, other):.0f}–"
                      f"{spec.from_canonical(high, other):.0f} {other.value}")
    raise ValidationError(
        "implausible-threshold", f"{name} {number:g} {entered.value} is not a plausible "
        f"{kind} {spec.label.lower()} limit for {rule.id} (plausible: {shown}); check the "
        "number and its unit.")


def is_plausible(rule: Rule, name: str, value: Any) -> bool:
    """True unless a stored value (in the rule's unit) lies outside its plausible range."""
    where = param_unit(rule, name)
    if where.plausible is None or where.metric is None or where.unit is None \
            or not isinstance(value, int | float) or isinstance(value, bool):
        return True
    canonical = SPECS[where.metric].to_canonical(float(value), where.unit)
    return where.plausible[0] <= canonical <= where.plausible[1]


def param_text(rule: Rule, name: str, value: Any) -> str:
    """One parameter in words with its unit: "below 3.0 mmol/L (54 mg/dL)", "count 2"."""
    where = param_unit(rule, name)
    words = name.removesuffix("_kg").replace("_", " ")
    if value is None:
        return f"{words} off"
    if isinstance(value, bool):
        return f"{words} {'yes' if value else 'no'}"
    if where.metric is None or where.unit is None or not isinstance(value, int | float):
        return f"{words} {value:g}" if isinstance(value, int | float) else f"{words} {value}"
    text = f"{words} {format_limit(where.metric, float(value), where.unit)}"
    if not is_plausible(rule, name, value):
        text += " (implausible for its unit: check and set it again)"
    return text


def params_text(rule: Rule, params: Mapping[str, Any] | None) -> str:
    """A rule's parameters in words with their units, or "—" when there are none."""
    return ", ".join(param_text(rule, k, v) for k, v in (params or {}).items()) or "—"


def entry_value(rule: Rule, name: str, value: Any) -> tuple[Any, str | None]:
    """A stored parameter as staff enter it: glucose in mmol/L (rounded as a meter shows it),
    others in the rule's unit; with the unit, or None for a plain number or a switch."""
    where = param_unit(rule, name)
    if where.metric is None or where.unit is None or not isinstance(value, int | float) \
            or isinstance(value, bool):
        return value, None
    spec = SPECS[where.metric]
    if where.unit == spec.canonical:
        return value, spec.canonical.value
    return round(spec.to_canonical(float(value), where.unit), spec.decimals), \
        spec.canonical.value
