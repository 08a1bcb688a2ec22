"""What each rule kind reads of the readings before a new one, so a batch loads exactly that.

A rule kind is a pure function over a series (alerts/rules.py); this is what those functions
read of the history before the batch's oldest new reading, per kind and from the patient's
own parameters:

- the last N valid readings (a band's or a baseline drop's consecutive readings);
- every reading timed before a gap behind the series' newest reading (a personal baseline's
  window ends `exclude_hours` before the reading it judges; a count window, the daily
  weights and a scale error's neighbours need every reading of their window: gap zero);
- the low-quality readings of a window (check device use counts them).

`alerts.history` turns that into one query: readings the rules cannot read are left in the
database, so the cost of a new reading follows what its rules read, not how many readings
the series holds (a device sending every minute, a backlog). A kind not listed here reads
every reading of its lookback.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from alerts.catalogue import Catalogue, Rule
from alerts.rules import band_run, baseline_exclusion, baseline_run, quality_window
from alerts.thresholds import Subject
from telehub.domain.units import Metric

_EVERY = timedelta(0)


@dataclass(frozen=True)
class Needs:
    """What a metric's rules read before a new reading, for one patient."""

    last_valid: int = 0                   # the last N valid readings before it
    every_before: timedelta | None = None  # every reading older than newest - this; None: none
    low_quality: timedelta = _EVERY       # low-quality readings within this before it

    def merge(self, other: Needs) -> Needs:
        """What both read."""
        gaps = [g for g in (self.every_before, other.every_before) if g is not None]
        return Needs(max(self.last_valid, other.last_valid), min(gaps) if gaps else None,
                     max(self.low_quality, other.low_quality))


def _run(n: int) -> Needs:
    """The last `n` valid readings; a run of none reads every valid reading."""
    return Needs(last_valid=n) if n >= 1 else Needs(every_before=_EVERY)


def _band(params: Mapping[str, Any]) -> Needs:
    return _run(band_run(params))


def _baseline_drop(params: Mapping[str, Any]) -> Needs:
    exclusion = baseline_exclusion(params)
    window = None if exclusion is None else max(exclusion, _EVERY)
    return _run(baseline_run(params)).merge(Needs(every_before=window))


def _quality_count(params: Mapping[str, Any]) -> Needs:
    return Needs(low_quality=quality_window(params))


def _every(params: Mapping[str, Any]) -> Needs:
    return Needs(every_before=_EVERY)


KIND_NEEDS: dict[str, Callable[[Mapping[str, Any]], Needs]] = {
    "band": _band,
    "baseline-drop": _baseline_drop,
    "quality-count": _quality_count,
    "repeat-reading": lambda params: Needs(),     # the reading itself and its bands
    "count": _every,
    "change": _every,
    "daily-rise": _every,
    "above-dry": _every,
    "outlier": _every,
    "off-schedule": _every,
}
# Rules with no metric that the engine runs on every metric's readings.
_EVERY_METRIC = ("repeat-reading", "quality-count")


def rule_needs(rule: Rule, params: Mapping[str, Any]) -> Needs:
    """What one rule reads, given its effective parameters."""
    needs = KIND_NEEDS.get(rule.kind)
    return needs(params) if needs is not None else _every(params)


def series_needs(metric: Metric, subject: Subject | None, catalogue: Catalogue) -> Needs:
    """What the metric's rules read for this patient; every reading for an unknown patient."""
    if subject is None:
        return Needs(every_before=_EVERY)
    return catalogue.memo(("history-needs", metric, subject.overrides_key),
                          lambda: _series_needs(metric, subject, catalogue))


def _series_needs(metric: Metric, subject: Subject, catalogue: Catalogue) -> Needs:
    chosen = list(catalogue.for_metric(metric))
    chosen += [r for r in catalogue.rules if r.metric is None and r.kind in _EVERY_METRIC]
    out = Needs()
    for rule in chosen:
        out = out.merge(rule_needs(rule, subject.params(rule)))
    return out
