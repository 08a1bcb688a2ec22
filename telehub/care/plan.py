"""Care plans: review dates (quarterly, calendar months) and each trigger in words."""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import date
from typing import Any

from telehub.domain.units import SPECS, Metric

# Care plans are reviewed quarterly unless the nurse sets another date.
REVIEW_MONTHS = 3


def add_months(day: date, months: int) -> date:
    """The same day `months` later (the month's last day when it is shorter)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def next_review_due(reviewed_on: date) -> date:
    """When a care plan reviewed on `reviewed_on` falls due again (quarterly)."""
    return add_months(reviewed_on, REVIEW_MONTHS)


def review_overdue(review_due: date | None, today: date) -> bool:
    """True when the review date has passed (no date set: not overdue, but not planned)."""
    return review_due is not None and review_due < today


_BOUNDS = (("at_or_below", "at or below"), ("below", "below"), ("at_or_above", "at or above"),
           ("above", "above"))


def describe_trigger(metric: str | None, kind: str, params: Mapping[str, Any],
                     unit: str | None = None) -> str:
    """A trigger in the patient's words, e.g. "SpO2 at or below 91 %" (thresholds in `unit`,
    else the metric's canonical unit)."""
    try:
        spec = SPECS[Metric(metric)] if metric else None
    except ValueError:
        spec = None
    label = spec.label if spec else (metric or "Reading")
    unit_text = unit or (spec.canonical.value if spec else "")
    unit = f" {unit_text}" if unit_text else ""
    bounds = [f"{words} {params[key]:g}{unit}" for key, words in _BOUNDS
              if isinstance(params.get(key), int | float)]
    if bounds:
        text = f"{label} {' or '.join(bounds)}"
        consecutive = params.get("consecutive")
        if isinstance(consecutive, int) and consecutive > 1:
            text += f" on {consecutive} readings in a row"
        return text
    if kind == "change" and "gain_kg" in params:
        return f"Weight up {params['gain_kg']:g} kg or more in {params.get('days', '?')} days"
    if kind == "change" and "loss_kg" in params:
        return f"Weight down {params['loss_kg']:g} kg or more in {params.get('days', '?')} days"
    if kind == "daily-rise":
        return (f"Weight up {params.get('rise_kg', '?')} kg or more a day on "
                f"{params.get('days', '?')} days in a row")
    if kind == "above-dry":
        return f"Weight {params.get('margin_kg', '?')} kg or more above your dry weight"
    if kind == "baseline-drop":
        return (f"{label} {params.get('points', '?')} points or more below your usual level "
                f"on {params.get('consecutive', '?')} readings in a row")
    if kind == "count":
        return f"{label} out of range {params.get('n', params.get('count', '?'))} times"
    return label

