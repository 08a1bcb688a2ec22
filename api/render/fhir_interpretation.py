"""An Observation's `interpretation`: what the rules that fired on the reading say of it.

Which rules fired on a reading comes from the engine's record (api.queries.fhir.fired_on):
the rule and severity of each episode's latest and worst readings, and the single-reading
band of the episode that each reading between its first and last breach lies in.

A rule's direction gives the code (v3 ObservationInterpretation): a low band, a drop below
baseline or a weight loss reads low (L), a high band or a weight gain high (H), critical
(LL, HH) when the severity is red; a rule with no direction reads abnormal (A, AA). A
meter's own LO / HI flag reads L / H. Rules that ask for a better measurement (repeat a
low-quality reading, a suspected scale error, weigh in the morning) say nothing of the
patient and give no code. A reading no rule fired on carries no interpretation: the rules
are not a reference range, so "normal" is not claimed for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from alerts.catalogue import Catalogue, Rule
from telehub.domain.codes import Severity

INTERPRETATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
_LOW_LIMITS = ("at_or_below", "below")
_HIGH_LIMITS = ("at_or_above", "above")
_RISING = frozenset({"change", "daily-rise", "above-dry"})
_FALLING = frozenset({"baseline-drop"})
_CODES = {("low", False): ("L", "Low"), ("low", True): ("LL", "Critical low"),
          ("high", False): ("H", "High"), ("high", True): ("HH", "Critical high"),
          (None, False): ("A", "Abnormal"), (None, True): ("AA", "Critical abnormal")}
_METER_FLAGS = {"lo": ("L", "Low"), "hi": ("H", "High")}
# Strongest first, so a client reading only the first code reads the worst.
_ORDER = ("AA", "LL", "HH", "A", "L", "H")


@dataclass(frozen=True)
class Fired:
    """A rule that fired on a reading, as an alert's values record it, with the patient's
    limits it fired at (None: the catalogue's): a two-sided band reads low or high by the
    limits that were broken, so a patient's own pulse limits decide the side."""

    rule_id: str
    severity: str
    params: Mapping[str, Any] | None = field(default=None, compare=False)


def direction(rule: Rule, params: Mapping[str, Any], value: float) -> str | None:
    """'low', 'high' or None (no direction) for a rule that fired on `value`."""
    if rule.kind in ("band", "count"):
        low = next((params[n] for n in _LOW_LIMITS if params.get(n) is not None), None)
        high = next((params[n] for n in _HIGH_LIMITS if params.get(n) is not None), None)
        if rule.meter_flag is not None:
            return "low" if rule.meter_flag == "lo" else "high"
        if low is not None and high is not None:  # two-sided (pulse): which side it lies
            return "low" if value <= float(low) else "high"
        return "low" if low is not None else "high" if high is not None else None
    if rule.kind in _RISING:
        return "low" if "loss_kg" in params else "high"
    if rule.kind in _FALLING:
        return "low"
    return None


def interpretation(catalogue: Catalogue, value: float, fired: Iterable[Fired],
                   flags: Iterable[str] = ()) -> list[dict[str, Any]]:
    """The interpretation CodeableConcepts of a reading, strongest first (empty: none)."""
    found: dict[str, dict[str, Any]] = {}
    for f in fired:
        rule = catalogue.get(f.rule_id)
        if rule is None or rule.is_measurement_prompt:
            continue
        critical = f.severity == Severity.RED
        params = rule.params if f.params is None else f.params
        code, display = _CODES[(direction(rule, params, value), critical)]
        label = catalogue.episode_label(rule.episode)
        entry = found.setdefault(code, {"coding": [
            {"system": INTERPRETATION_SYSTEM, "code": code, "display": display}], "text": ""})
        entry["text"] = "; ".join(filter(None, [entry["text"],
                                                f"{label} ({f.severity}, rule {rule.id})"]))
    for flag in flags:
        if flag in _METER_FLAGS:
            code, display = _METER_FLAGS[flag]
            found.setdefault(code, {"coding": [
                {"system": INTERPRETATION_SYSTEM, "code": code, "display": display}],
                "text": f"The meter showed {flag.upper()}"})
    return [found[c] for c in _ORDER if c in found]
