"""Metrics, units, conversions, plausibility ranges and codes (LOINC, SNOMED CT, UCUM).

The one place that knows what a weight, an SpO2, a pulse or a glucose reading is.
Values are stored in the canonical unit; other accepted units are converted on the
way in. Source: shared CLINICAL_RULES.md, "Metrics, units, codes, plausibility".
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from telehub.errors import ValidationError

UCUM_SYSTEM = "http://unitsofmeasure.org"
LOINC_SYSTEM = "http://loinc.org"
SNOMED_SYSTEM = "http://snomed.info/sct"
NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
# Telehub's own patient key (the display id, e.g. TH-000042), as FHIR identifiers carry it.
DISPLAY_ID_SYSTEM = "urn:telehub:display-id"

# mg/dL per mmol/L for glucose (molar mass 180.16 g/mol / 10).
MGDL_PER_MMOLL = 18.016
KG_PER_LB = 0.45359237
KG_PER_STONE = 6.35029318


class Metric(StrEnum):
    """What a reading measures."""

    WEIGHT = "weight"
    SPO2 = "spo2"
    PULSE = "pulse"
    GLUCOSE = "glucose"


class Unit(StrEnum):
    """Every unit Telehub accepts on input; the first four are also canonical."""

    KG = "kg"
    PERCENT = "%"
    PER_MIN = "/min"
    MMOL_L = "mmol/L"
    LB = "lb"
    STONE = "st"
    MG_DL = "mg/dL"


@dataclass(frozen=True)
class Loinc:
    """A LOINC code and its display text."""

    code: str
    display: str


@dataclass(frozen=True)
class MetricSpec:
    """Everything Telehub knows about one metric."""

    metric: Metric
    label: str
    canonical: Unit
    # input unit -> factor to multiply by to get the canonical unit
    factors: Mapping[Unit, float]
    plausible_min: float
    plausible_max: float
    loinc: tuple[Loinc, ...]
    snomed: str
    decimals: int

    def to_canonical(self, value: float, unit: Unit) -> float:
        """Convert a value in an accepted unit to the canonical unit."""
        return value * self.factors[unit]

    def from_canonical(self, value: float, unit: Unit) -> float:
        """Convert a canonical value to another accepted unit (the inverse of to_canonical)."""
        return value / self.factors[unit]

    def is_plausible(self, canonical_value: float) -> bool:
        """True when a canonical value lies inside the plausibility range."""
        return self.plausible_min <= canonical_value <= self.plausible_max


SPECS: dict[Metric, MetricSpec] = {
    Metric.WEIGHT: MetricSpec(
        Metric.WEIGHT, "Weight", Unit.KG,
        {Unit.KG: 1.0, Unit.LB: KG_PER_LB, Unit.STONE: KG_PER_STONE},
        20.0, 350.0, (Loinc("29463-7", "Body weight"),), "27113001", 1,
    ),
    Metric.SPO2: MetricSpec(
        Metric.SPO2, "SpO2", Unit.PERCENT, {Unit.PERCENT: 1.0},
        50.0, 100.0,
        (
            Loinc("2708-6", "Oxygen saturation in Arterial blood"),
            Loinc("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
        ),
        "431314004", 0,
    ),
    Metric.PULSE: MetricSpec(
        Metric.PULSE, "Pulse", Unit.PER_MIN, {Unit.PER_MIN: 1.0},
        20.0, 250.0,
        (Loinc("8867-4", "Heart rate"), Loinc("8889-8", "Heart rate by Pulse oximetry")),
        "364075005", 0,
    ),
    Metric.GLUCOSE: MetricSpec(
        Metric.GLUCOSE, "Blood glucose", Unit.MMOL_L,
        {Unit.MMOL_L: 1.0, Unit.MG_DL: 1.0 / MGDL_PER_MMOLL},
        0.6, 40.0,
        (
            Loinc("14743-9", "Glucose [Moles/volume] in Capillary blood by Glucometer"),
            Loinc("41653-7", "Glucose [Mass/volume] in Capillary blood by Glucometer"),
            Loinc("15074-8", "Glucose [Moles/volume] in Blood"),
            Loinc("2339-0", "Glucose [Mass/volume] in Blood"),
        ),
        "434912009", 1,
    ),
}

# Spellings devices and FHIR senders use for the same unit.
_UNIT_ALIASES: dict[str, Unit] = {
    "kg": Unit.KG, "kilogram": Unit.KG, "kilograms": Unit.KG,
    "lb": Unit.LB, "lbs": Unit.LB, "[lb_av]": Unit.LB, "pound": Unit.LB, "pounds": Unit.LB,
    "st": Unit.STONE, "stone": Unit.STONE, "[stone_av]": Unit.STONE,
    "%": Unit.PERCENT, "percent": Unit.PERCENT,
    "/min": Unit.PER_MIN, "bpm": Unit.PER_MIN, "{beats}/min": Unit.PER_MIN,
    "{beat}/min": Unit.PER_MIN,
    "beats/min": Unit.PER_MIN,
    "mmol/l": Unit.MMOL_L,
    "mg/dl": Unit.MG_DL,
}

# LOINC code -> metric, and the unit the code implies when a sender omits it.
LOINC_METRICS: dict[str, Metric] = {
    code.code: spec.metric for spec in SPECS.values() for code in spec.loinc
}
# Glucose codes name a property (moles or mass per volume), so each implies its unit.
LOINC_UNITS: dict[str, Unit] = {"14743-9": Unit.MMOL_L, "15074-8": Unit.MMOL_L,
                                "41653-7": Unit.MG_DL, "2339-0": Unit.MG_DL}
# Metrics whose value means nothing without its unit: a glucose of 40 may be 40 mmol/L
# (hyperosmolar) or 40 mg/dL (a severe hypo), so a missing unit is never guessed.
UNIT_REQUIRED = frozenset({Metric.GLUCOSE})
# A glucose meter shows LO / HI outside its measuring range; such readings are stored at
# the range's edge, flagged, and never refused as implausible.
METER_RANGE: dict[Metric, tuple[float, float]] = {Metric.GLUCOSE: (0.6, 33.3)}


# A number followed by its unit, as people type it: "3.5 mmol/L", "63mg/dL", "71.5 kg".
_QUANTITY = re.compile(r"\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*(.*?)\s*")
# Decimals a value in a non-canonical unit is shown with (mg/dL is read in whole numbers).
_UNIT_DECIMALS: dict[Unit, int] = {Unit.MG_DL: 0, Unit.LB: 1, Unit.STONE: 1}


def split_quantity(text: str) -> tuple[str, str | None]:
    """A typed quantity as (number text, unit text or None): "63mg/dL" → ("63", "mg/dL").
    Text that does not start with a number comes back whole, for the caller to refuse."""
    match = _QUANTITY.fullmatch(text)
    if match is None:
        return text.strip(), None
    return match.group(1), match.group(2) or None


def _plain(value: float, decimals: int) -> str:
    """A value with at least `decimals` decimals and at most two, trailing zeros dropped."""
    text = f"{value:.{max(decimals, 2)}f}"
    head, _, tail = text.partition(".")
    tail = tail.rstrip("0").ljust(decimals, "0")
    return f"{head}.{tail}" if tail else head


def parse_metric(text: str) -> Metric:
    """The Metric named by `text`, or a ValidationError('unknown-metric')."""
    try:
        return Metric(text.strip().lower())
    except (ValueError, AttributeError) as err:
        raise ValidationError("unknown-metric", f"'{text}' is not a metric Telehub knows "
                              f"(weight, spo2, pulse, glucose).") from err


def parse_unit(metric: Metric, text: str | None, *, loinc: str | None = None) -> Unit:
    """The accepted Unit for `metric` spelled `text`. Without one: the unit the LOINC code
    implies, else the canonical unit, except for a metric whose unit is never guessed."""
    spec = SPECS[metric]
    if text is None or not str(text).strip():
        if loinc in LOINC_UNITS:
            return LOINC_UNITS[loinc]
        if metric in UNIT_REQUIRED:
            accepted = " or ".join(u.value for u in spec.factors)
            raise ValidationError("missing-unit", f"A {metric.value} value needs its unit "
                                  f"({accepted}); none was sent and its code implies none.")
        return spec.canonical
    unit = _UNIT_ALIASES.get(str(text).strip().lower())
    if unit is None or unit not in spec.factors:
        accepted = ", ".join(u.value for u in spec.factors)
        raise ValidationError("wrong-unit", f"'{text}' is not an accepted unit for {metric.value} "
                              f"(accepted: {accepted}).")
    return unit


def normalise(metric: Metric, value: float, unit: Unit) -> float:
    """Canonical value for a raw value, or ValidationError for a non-finite or implausible one."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError("not-a-number", f"The {metric.value} value is not a finite number.")
    spec = SPECS[metric]
    canonical = spec.to_canonical(float(value), unit)
    if not spec.is_plausible(canonical):
        raise ValidationError(
            "implausible-value",
            f"{spec.label} {value:g} {unit.value} is outside the plausible range "
            f"{spec.plausible_min:g}–{spec.plausible_max:g} {spec.canonical.value}.",
        )
    return canonical


def shown_value(metric: Metric, value: float) -> float:
    """A canonical value as a nurse sees it on screen (SpO2 91.4 is 91): rules compare bands
    on this, so the band on the screen is the band that fired."""
    return float(f"{value:.{SPECS[metric].decimals}f}")


def format_value(metric: Metric, value: float, raw_value: float | None = None,
                 raw_unit: str | None = None) -> str:
    """A canonical value with its unit, rounded the way nurses read it ("94 %", "82.4 kg"),
    then what the device sent when it sent another unit: "3.0 mmol/L (54 mg/dL)" (UK staff
    read glucose in mmol/L first)."""
    spec = SPECS[metric]
    text = f"{value:.{spec.decimals}f} {spec.canonical.value}"
    if raw_value is not None and raw_unit and raw_unit != spec.canonical.value:
        text += f" ({raw_value:g} {raw_unit})"
    return text


def format_limit(metric: Metric, limit: float, unit: Unit | str | None = None) -> str:
    """A threshold (or any value held in `unit`) as staff read it: the canonical unit first
    and the unit its source states it in after, in that unit's own rounding:
    "3.5 mmol/L (63 mg/dL)", "13.9 mmol/L (250 mg/dL)"; in the canonical unit a limit finer
    than the metric's rounding keeps its digits, so 3.95 never reads as 4.0 ("2.25 kg")."""
    spec = SPECS[metric]
    held = Unit(unit) if unit else spec.canonical
    if held == spec.canonical:
        return f"{_plain(limit, spec.decimals)} {held.value}"
    canonical = spec.to_canonical(limit, held)
    decimals = _UNIT_DECIMALS.get(held, spec.decimals)
    return (f"{canonical:.{spec.decimals}f} {spec.canonical.value} "
            f"({limit:.{decimals}f} {held.value})")
