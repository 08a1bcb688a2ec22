"""A rule's sentence for the nurse: what it says about the reading and the limits, and the
sentence with its placeholders filled."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from alerts.catalogue import Rule
from alerts.rules import Point, limit_set
from telehub.domain.codes import ReadingFlag
from telehub.domain.units import SPECS, Metric, format_limit, format_value


def reading_fields(metric: Metric, point: Point, zone: ZoneInfo) -> dict[str, Any]:
    """What every sentence may say about the reading: value, time, date, label."""
    local = point.time.astimezone(zone)
    value = format_value(metric, point.value, point.raw_value, point.raw_unit)
    if ReadingFlag.HI in point.flags:
        value = f"{value} (meter showed HI)"
    if ReadingFlag.LO in point.flags:
        value = f"{value} (meter showed LO)"
    return {"value": value, "time": local.strftime("%H:%M on %d %b %Y"),
            "date": local.strftime("%d %b %Y"), "label": SPECS[metric].label}


# The parameters that are a band's limits (a value at/below or at/above them breaches).
LIMIT_PARAMS = ("at_or_below", "below", "at_or_above", "above")


def limit_fields(rule: Rule, params: Mapping[str, Any]) -> dict[str, str]:
    """The rule's limits in words for its sentence: `{below_text}` is "3.0 mmol/L (54 mg/dL)"
    for a limit its source states in mg/dL (mmol/L first, as UK staff read glucose)."""
    if rule.metric is None:
        return {}
    return {f"{name}_text": format_limit(rule.metric, float(params[name]), rule.unit)
            for name in LIMIT_PARAMS if limit_set(params, name) is not None}


class _Fields(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def render(sentence: str, fields: Mapping[str, Any]) -> str:
    """The rule's sentence with its placeholders filled (numbers as people write them)."""
    shown = _Fields({k: (f"{v:g}" if isinstance(v, float) else v) for k, v in fields.items()})
    return sentence.format_map(shown)
