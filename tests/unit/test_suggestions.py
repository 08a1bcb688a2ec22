"""Suggested individual thresholds: one step past the most extreme reading that led to no
action, never across a more severe rule's limit, never for a red rule or a rule without a
limit, and only when it relaxes the current limit."""

from __future__ import annotations

from alerts.catalogue import load_catalogue
from alerts.suggestions import suggest_threshold


def _suggest(rule_id: str, worst: list[float], **override: float) -> dict[str, float]:
    catalogue = load_catalogue()
    rule = catalogue.get(rule_id)
    assert rule is not None
    return dict(suggest_threshold(rule, {**rule.params, **override}, worst, catalogue).params)


def test_a_suggestion_is_one_step_past_the_most_extreme_reading() -> None:
    assert _suggest("spo2-scale1-info", [95, 95, 95]) == {"at_or_below": 94.0}
    assert _suggest("pulse-amber", [115, 118, 112]) == {"at_or_above": 119.0}
    # A strict limit takes the reading itself; glucose in steps of 0.1 mmol/L.
    assert _suggest("glucose-hyper", [16.24, 17.0]) == {"above": 17.0}
    assert _suggest("glucose-hypo", [3.9, 3.7]) == {"below": 3.7}


def test_a_suggestion_never_crosses_a_more_severe_rule() -> None:
    # Amber SpO2 at 93 %: readings of 91 % would suggest 90 %, below red's 91 %: kept at 92.
    assert _suggest("spo2-scale1-amber", [92, 91]) == {"at_or_below": 92.0}
    # Info SpO2 readings of 94 % would suggest 93 %, amber's own limit: kept at 94.
    assert _suggest("spo2-scale1-info", [95, 94]) == {"at_or_below": 94.0}
    # A hypo limit stays above the severe hypo's 54 mg/dL (3.0 mmol/L), whatever its unit.
    assert _suggest("glucose-hypo", [2.9, 3.5]) == {"below": 3.1}
    # Fast pulse of 140: capped one step under the red limit of 131.
    assert _suggest("pulse-amber", [140]) == {"at_or_above": 130.0}


def test_no_number_for_red_rules_other_kinds_or_when_nothing_relaxes() -> None:
    assert _suggest("spo2-scale1-red", [90, 89]) == {}
    assert _suggest("weight-gain-3d", [82.0]) == {}
    assert _suggest("glucose-high-persistent", [16.0]) == {}
    # Already at the suggested limit: nothing to suggest.
    assert _suggest("spo2-scale1-amber", [92], at_or_below=92) == {}
