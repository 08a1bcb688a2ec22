"""Suggested individual thresholds: when a rule keeps firing for one patient and the team
never acts, the limit that would have stayed quiet for those alerts, within safe bounds.

A suggestion is only ever a prompt: a clinician accepts it (recorded as a threshold change
with their reason) or dismisses it. Nothing here changes a threshold.

How a suggestion is derived (what a community matron would expect):

* It is made for a patient and rule with at least `NOISY_ALERTS` alerts raised in the last
  `NOISY_DAYS` days, all of them resolved as noise (telehub.domain.codes.NOISE_OUTCOMES) and
  none with an action; alerts raised before the last decision on that suggestion do not count,
  and a dismissal keeps it quiet for `QUIET_DAYS` days.
* Only amber and info band rules (a limit on SpO2, pulse or glucose) get a number. A red rule
  is never relaxed by a prompt (listed, without a number); nor is a rule of another kind
  (weight change, missing readings), whose remedy is a review of the care plan.
* The number is one step past the most extreme reading of those alerts (each alert keeps its
  worst reading): for a low limit ("at or below"), the lowest worst reading minus one step;
  for a high limit, the highest plus one step ("below"/"above" limits: that reading itself).
  One step is the metric's displayed resolution in the rule's unit (1 % SpO2, 1 /min pulse,
  0.1 mmol/L or 1 mg/dL glucose). So every one of those alerts would have stayed quiet.
* It never crosses the limit of a more severe rule of the same episode: an amber SpO2 limit
  stays at least one step above the red one, so the red rule still fires first.
* It is made only when it relaxes the current limit; otherwise the rule is listed without one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from alerts.catalogue import Catalogue, Rule
from telehub.domain.codes import Severity, severity_rank
from telehub.domain.units import SPECS, Metric, Unit, format_limit

NOISY_ALERTS = 5       # alerts without action before a rule is called noisy for a patient
NOISY_DAYS = 30        # the window they are counted over
QUIET_DAYS = 30        # how long a dismissed suggestion stays quiet
LOW_LIMITS = ("at_or_below", "below")
HIGH_LIMITS = ("at_or_above", "above")
_STEPS = {Unit.PERCENT: 1.0, Unit.PER_MIN: 1.0, Unit.MMOL_L: 0.1, Unit.MG_DL: 1.0}
_BAND_METRICS = frozenset({Metric.SPO2, Metric.PULSE, Metric.GLUCOSE})


@dataclass(frozen=True)
class Suggestion:
    """A suggested limit for one rule and patient, or the reason there is no number."""

    rule_id: str
    params: Mapping[str, float]          # in the unit the rule compares in; empty: none
    unit: str | None
    current: Mapping[str, Any]
    explanation: str


def _unit(rule: Rule) -> Unit:
    assert rule.metric is not None
    return Unit(rule.unit) if rule.unit else SPECS[rule.metric].canonical


def _in_rule_unit(rule: Rule, canonical: float) -> float:
    assert rule.metric is not None
    spec = SPECS[rule.metric]
    unit = _unit(rule)
    return canonical if unit == spec.canonical else spec.from_canonical(canonical, unit)


def _side(rule: Rule, params: Mapping[str, Any], worst: Sequence[float]) -> str | None:
    """The limit every worst reading broke ('at_or_below', …), or None if not one side."""
    names = [n for n in (*LOW_LIMITS, *HIGH_LIMITS) if params.get(n) is not None]
    low = [n for n in names if n in LOW_LIMITS]
    high = [n for n in names if n in HIGH_LIMITS]
    if low and all(v <= float(params[low[0]]) for v in worst):
        return low[0]
    if high and all(v >= float(params[high[0]]) for v in worst):
        return high[0]
    return None


def _bound(rule: Rule, name: str, catalogue: Catalogue,
           overrides: Mapping[str, Mapping[str, Any]]) -> float | None:
    """The nearest limit on the same side of a more severe rule of the same episode."""
    low = name in LOW_LIMITS
    limits = []
    for other in catalogue.rules:
        if (other.episode != rule.episode or other.metric != rule.metric
                or other.scale != rule.scale
                or severity_rank(other.severity) <= severity_rank(rule.severity)):
            continue
        params = {**other.params, **overrides.get(other.id, {})}
        spec = SPECS[other.metric] if other.metric else None
        for n in (LOW_LIMITS if low else HIGH_LIMITS):
            if params.get(n) is not None and spec is not None:   # in this rule's unit
                canonical = spec.to_canonical(float(params[n]), _unit(other))
                limits.append(_in_rule_unit(rule, canonical))
    if not limits:
        return None
    return max(limits) if low else min(limits)


def suggest_threshold(rule: Rule, effective: Mapping[str, Any], worst: Sequence[float],
                      catalogue: Catalogue,
                      overrides: Mapping[str, Mapping[str, Any]] | None = None) -> Suggestion:
    """The suggested limit for `rule` given the worst readings (canonical units) of the
    alerts that led to no action; see the module docstring for the derivation."""
    def none(why: str) -> Suggestion:
        return Suggestion(rule.id, {}, None, dict(effective), why)

    if rule.severity == Severity.RED:
        return none("A red rule is never relaxed by a suggestion: review it with the GP.")
    if rule.kind != "band" or rule.metric not in _BAND_METRICS or not worst:
        return none("No limit to suggest for this kind of rule: review the care plan.")
    unit = _unit(rule)
    values = [_in_rule_unit(rule, v) for v in worst]
    name = _side(rule, effective, values)
    if name is None:
        return none("The readings broke the rule on both sides: review the care plan.")
    step = _STEPS.get(unit, 1.0)
    strict = name in ("below", "above")
    if name in LOW_LIMITS:
        target = min(values) - (0.0 if strict else step)
    else:
        target = max(values) + (0.0 if strict else step)
    bound = _bound(rule, name, catalogue, overrides or {})
    wanted = target
    if bound is not None:
        target = max(target, bound + step) if name in LOW_LIMITS else min(target, bound - step)
    decimals = 0 if step >= 1 else 1
    target = round(target, decimals)
    current = float(effective[name])
    relaxes = target < current if name in LOW_LIMITS else target > current
    if not relaxes:
        return none("The limit cannot move further without crossing a more severe rule.")
    assert rule.metric is not None
    shown = format_limit(rule.metric, target, unit)
    why = (f"{len(worst)} alerts led to no action; their most extreme reading was "
           f"{format_limit(rule.metric, min(values) if name in LOW_LIMITS else max(values), unit)}"
           f". Suggested {name.replace('_', ' ')} {shown} (was "
           f"{format_limit(rule.metric, current, unit)})")
    if bound is not None and target != round(wanted, decimals):
        why += (f", kept one step inside the more severe rule's "
                f"{format_limit(rule.metric, bound, unit)}")
    return Suggestion(rule.id, {name: target}, unit.value, dict(effective), why + ".")
