"""Event rates per 1,000 patient-years with 95 % intervals, and when they are too small to
mean anything.

* A rate's interval is the exact Poisson (Garwood 1936) interval of its count, from the
  chi-squared distribution (scipy.stats.chi2): lower = chi2(α/2; 2n) / 2 (0 when n = 0),
  upper = chi2(1 − α/2; 2n + 2) / 2, each divided by the patient-years.
* A difference of two rates, and a difference in differences, has a Wald interval: the
  difference ± 1.96 × √(Σ n / T²), treating each count as an independent Poisson count. That
  ignores the same people being counted before and after and the clustering of events in
  some people (overdispersion), so the interval is, if anything, too narrow.
* A rate is too small to mean anything with fewer than MIN_EVENTS events or fewer than
  MIN_PATIENT_YEARS patient-years; a difference is too small when any of its rates is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy.stats import chi2

PER = 1000.0                  # rates per 1,000 patient-years
DAYS_PER_YEAR = 365.25
Z95 = 1.96                    # the normal 97.5th percentile, as the definitions state it
MIN_EVENTS = 10               # fewer events than this: too few to draw conclusions
MIN_PATIENT_YEARS = 20.0      # less follow-up than this: too little to draw conclusions


@dataclass(frozen=True)
class Rate:
    """Events over patient-years, per 1,000 patient-years, with its exact 95 % interval."""

    events: int
    patient_years: float
    per_1000: float | None
    low: float | None
    high: float | None
    too_small: bool


def poisson_interval(n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The exact (Garwood) interval of a Poisson count n."""
    alpha = 1.0 - confidence
    low = 0.0 if n == 0 else float(chi2.ppf(alpha / 2, 2 * n)) / 2
    high = float(chi2.ppf(1 - alpha / 2, 2 * n + 2)) / 2
    return low, high


def rate(events: int, patient_years: float) -> Rate:
    """A rate per 1,000 patient-years with its exact interval (None without follow-up)."""
    small = events < MIN_EVENTS or patient_years < MIN_PATIENT_YEARS
    if patient_years <= 0:
        return Rate(events, patient_years, None, None, None, True)
    low, high = poisson_interval(events)
    scale = PER / patient_years
    return Rate(events, patient_years, round(events * scale, 2), round(low * scale, 2),
                round(high * scale, 2), small)


@dataclass(frozen=True)
class Difference:
    """A difference of rates per 1,000 patient-years with its Wald 95 % interval."""

    per_1000: float | None
    low: float | None
    high: float | None
    too_small: bool


def difference(plus: Sequence[Rate], minus: Sequence[Rate]) -> Difference:
    """Σ plus − Σ minus (per 1,000 patient-years), e.g. (after − before) for one group or
    (after − before)monitored − (after − before)comparison."""
    every = (*plus, *minus)
    if any(r.per_1000 is None for r in every):
        return Difference(None, None, None, True)
    value = sum(r.events / r.patient_years for r in plus) - sum(
        r.events / r.patient_years for r in minus)
    spread = Z95 * math.sqrt(sum(r.events / r.patient_years ** 2 for r in every))
    return Difference(round(value * PER, 2), round((value - spread) * PER, 2),
                      round((value + spread) * PER, 2), any(r.too_small for r in every))
