"""The rule kinds as they were before rule summaries (alerts/rules.py at 62e9759), kept
unchanged for the reference engine."""

from __future__ import annotations

import functools
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from alerts.catalogue import Rule
from telehub.domain.codes import is_low_quality
from telehub.domain.units import (
    SPECS,
    Metric,
    Unit,
    format_value,
    shown_value,
)

# Weights are compared to the gram: 81.3 - 79.3 must count as a 2.0 kg gain.
_KG_DECIMALS = 3


@dataclass(frozen=True)
class Point:
    """One stored reading as the rules see it (canonical value plus what the device sent)."""

    time: datetime
    value: float
    raw_value: float | None = None
    raw_unit: str | None = None
    flags: tuple[str, ...] = ()
    device_id: int | None = None
    key: str | None = None

    @property
    def low_quality(self) -> bool:
        """The device flagged the reading as unreliable: shown, but kept out of threshold rules."""
        return is_low_quality(self.flags)


@dataclass(frozen=True)
class Series:
    """A patient's readings of one metric, oldest first, and how to read them."""

    metric: Metric
    points: Sequence[Point]
    zone: ZoneInfo
    morning: bool = False                 # weight: the care plan asks for morning weights
    dry_weight_kg: float | None = None    # weight: the clinician-set dry weight
    jump_kg: float = 5.0                  # weight: a jump this big is a scale error

    def upto(self, index: int) -> Sequence[Point]:
        """The points up to and including `index`."""
        return self.points[: index + 1]

    @functools.cached_property
    def _valid_prefix(self) -> tuple[list[Point], list[int]]:
        valid: list[Point] = []
        counts: list[int] = []
        for p in self.points:
            if not p.low_quality:
                valid.append(p)
            counts.append(len(valid))
        return valid, counts

    def valid_upto(self, index: int) -> Sequence[Point]:
        """The valid (not low-quality) points up to and including `index`."""
        if index < 0:
            return []
        valid, counts = self._valid_prefix
        return valid[: counts[index]]


@dataclass(frozen=True)
class Hit:
    """A rule fired on a reading; `fields` fill the rule's sentence and the alert's values."""

    rule: Rule
    point: Point
    fields: dict[str, Any] = field(default_factory=dict)


def value_in_rule_unit(rule: Rule, point: Point) -> float:
    """The reading in the unit the rule's source states (mg/dL thresholds on raw mg/dL values).

    A value the device sent in the canonical unit is compared as shown on screen (SpO2 is a
    whole percentage: 91.4 is 91); a converted one exactly (72 mg/dL is 3.996 mmol/L, below 4).
    The conversion is the one an individual threshold entered in mmol/L went through, so
    "below 3.5 mmol/L" on a mg/dL rule means exactly that.
    """
    if rule.unit == Unit.MG_DL and rule.metric is not None:
        if point.raw_unit == Unit.MG_DL and point.raw_value is not None:
            return point.raw_value
        return SPECS[rule.metric].from_canonical(point.value, Unit.MG_DL)
    if rule.metric is not None and point.raw_unit in (None, SPECS[rule.metric].canonical.value):
        return shown_value(rule.metric, point.value)
    return point.value


def extremity(rule: Rule, params: Mapping[str, Any], value: float) -> float:
    """How far into its band a reading is, larger being worse: lower for a rule that fires
    below a limit (SpO2, glucose), higher for one that fires above it (pulse, glucose)."""
    if limit_set(params, "at_or_below") is not None or limit_set(params, "below") is not None:
        return -value
    return value


def limit_set(params: Mapping[str, Any], name: str) -> float | None:
    """A limit parameter as a number, or None when it is not set (absent, or switched off)."""
    value = params.get(name)
    return None if value is None or isinstance(value, bool) else float(value)


def band_hit(rule: Rule, params: Mapping[str, Any], point: Point) -> bool:
    """True when the reading lies in the rule's band (ignoring quality and consecutiveness)."""
    v = value_in_rule_unit(rule, point)
    checks = (("at_or_below", lambda x, t: x <= t), ("below", lambda x, t: x < t),
              ("at_or_above", lambda x, t: x >= t), ("above", lambda x, t: x > t))
    for name, test in checks:
        limit = limit_set(params, name)
        if limit is not None and test(v, limit):
            return True
    return rule.meter_flag is not None and rule.meter_flag in point.flags


def _valid(points: Sequence[Point]) -> list[Point]:
    return [p for p in points if not p.low_quality]


def check_band(rule: Rule, params: Mapping[str, Any], series: Series, i: int) -> Hit | None:
    """Range/band: the reading (and the N-1 valid readings before it) lie in the band."""
    n = int(params.get("consecutive", 1) or 1)
    recent = series.valid_upto(i)[-n:]
    if len(recent) < n or recent[-1] is not series.points[i]:
        return None
    if all(band_hit(rule, params, p) for p in recent):
        return Hit(rule, series.points[i])
    return None


def weight_outliers(points: Sequence[Point], jump_kg: float) -> set[int]:
    """Indexes of readings differing from both neighbours by more than `jump_kg` (scale errors)."""
    out = set()
    for k in range(1, len(points) - 1):
        v = points[k].value
        if abs(v - points[k - 1].value) > jump_kg and abs(v - points[k + 1].value) > jump_kg:
            out.add(k)
    return out


# A morning weight is taken between 04:00 and 11:00 local time (before breakfast).
MORNING_HOURS = range(4, 11)


def is_morning(point: Point, zone: ZoneInfo) -> bool:
    """Whether the reading was taken in the morning window, local time."""
    return point.time.astimezone(zone).hour in MORNING_HOURS


def daily_weights(series: Series, upto: int) -> dict[date, Point]:
    """The day's weight per local date: its first valid reading.

    With a morning care plan it is the first valid reading of 04:00–11:00, and a day
    without one still has a daily weight: its first valid reading (see `off_schedule`),
    so a patient who weighs at the wrong time is never left out of every rule.
    """
    valid = series.valid_upto(upto)
    skip = weight_outliers(valid, series.jump_kg)
    first: dict[date, Point] = {}
    morning: dict[date, Point] = {}
    for k, p in enumerate(valid):
        if k in skip:
            continue
        day = p.time.astimezone(series.zone).date()
        first.setdefault(day, p)
        if series.morning and is_morning(p, series.zone):
            morning.setdefault(day, p)
    return {day: morning.get(day, p) for day, p in first.items()}


def off_schedule(series: Series, point: Point) -> bool:
    """A daily weight that is not a morning weight although the care plan asks for one."""
    return series.morning and not is_morning(point, series.zone)


def _weight_hit(rule: Rule, series: Series, point: Point, **fields: Any) -> Hit:
    """A weight rule's hit; a daily weight off the care plan's schedule is marked as such."""
    if off_schedule(series, point):
        fields["off_schedule"] = True
    return Hit(rule, point, fields)


def _today(series: Series, i: int) -> tuple[date, dict[date, Point]] | None:
    """(date, daily weights) when reading `i` is its day's weight, else None."""
    days = daily_weights(series, i)
    point = series.points[i]
    day = point.time.astimezone(series.zone).date()
    if days.get(day) is not point:
        return None
    return day, days


def check_change(rule: Rule, params: Mapping[str, Any], series: Series, i: int) -> Hit | None:
    """Change over a window: the day's weight against the lowest (gain) or highest (loss)."""
    found = _today(series, i)
    if found is None:
        return None
    day, days = found
    point = days[day]
    window = int(params.get("days", 3))
    previous = [days[d] for d in (day - timedelta(days=k) for k in range(1, window + 1))
                if d in days]
    gain = limit_set(params, "gain_kg")
    if gain is not None and previous:
        ref = min(previous, key=lambda p: p.value)
        change = round(point.value - ref.value, _KG_DECIMALS)
        if change >= gain:
            return _weight_hit(rule, series, point, change=f"{change:.1f}",
                               reference=_ref(ref, series))
    loss = limit_set(params, "loss_kg")
    if loss is not None and previous:
        ref = max(previous, key=lambda p: p.value)
        change = round(ref.value - point.value, _KG_DECIMALS)
        if change >= loss:
            return _weight_hit(rule, series, point, change=f"{change:.1f}",
                               reference=_ref(ref, series),
                               direction=f"below the highest of the previous {window} days")
    below_dry = limit_set(params, "below_dry_kg")
    dry = series.dry_weight_kg
    if below_dry is not None and dry and round(dry - point.value, _KG_DECIMALS) > below_dry:
        return _weight_hit(rule, series, point, change=f"{dry - point.value:.1f}",
                           reference=f"dry weight {dry:g} kg", direction="below the dry weight")
    return None


def _ref(point: Point, series: Series) -> str:
    when = point.time.astimezone(series.zone).strftime("%d %b")
    return f"{format_value(Metric.WEIGHT, point.value)} on {when}"


def check_daily_rise(rule: Rule, params: Mapping[str, Any], series: Series, i: int) -> Hit | None:
    """The day's weight rose by at least rise_kg over the day before, N days running."""
    found = _today(series, i)
    if found is None:
        return None
    day, days = found
    rise = float(params.get("rise_kg", 1.0))
    n = int(params.get("days", 2))
    for k in range(n):
        d, before = day - timedelta(days=k), day - timedelta(days=k + 1)
        if d not in days or before not in days:
            return None
        if round(days[d].value - days[before].value, _KG_DECIMALS) < rise:
            return None
    return _weight_hit(rule, series, days[day])


def check_above_dry(rule: Rule, params: Mapping[str, Any], series: Series, i: int) -> Hit | None:
    """The day's weight is at least margin_kg above the dry weight, N days running."""
    dry = limit_set(params, "dry_weight_kg")
    if not dry:
        return None
    found = _today(series, i)
    if found is None:
        return None
    day, days = found
    limit = dry + float(params.get("margin_kg", 2.0))
    for k in range(int(params.get("days", 2))):
        d = day - timedelta(days=k)
        if d not in days or round(days[d].value - limit, _KG_DECIMALS) < 0:
            return None
    return _weight_hit(rule, series, days[day])


def check_outlier(rule: Rule, params: Mapping[str, Any], series: Series, i: int) -> Hit | None:
    """A weight that jumps by more than jump_kg from the previous trusted reading."""
    jump = float(params.get("jump_kg", 5.0))
    point = series.points[i]
    if point.low_quality:
        return None
    # The current reading is the next neighbour of the one before it, so an earlier scale
    # error between two good readings is recognised and not taken as "previous".
    valid = series.valid_upto(i)
    skip = weight_outliers(valid, jump)
    trusted = [p for k, p in enumerate(valid[:-1]) if k not in skip]
    if not trusted:
        return None
    previous = trusted[-1]
    if abs(point.value - previous.value) > jump:
        return Hit(rule, point, {"previous": _ref(previous, series)})
    return None


def personal_baseline(params: Mapping[str, Any], series: Series, i: int) -> float | None:
    """The clinician's baseline, or the median of valid readings in the baseline window."""
    fixed = limit_set(params, "baseline")
    if fixed:
        return fixed
    t = series.points[i].time
    start = t - timedelta(days=float(params.get("days", 7)))
    end = t - timedelta(hours=float(params.get("exclude_hours", 24)))
    window = [p.value for p in series.valid_upto(i) if start <= p.time < end]
    if len(window) < int(params.get("min_readings", 5)):
        return None
    return float(statistics.median(window))


def check_baseline_drop(rule: Rule, params: Mapping[str, Any], series: Series,
                        i: int) -> Hit | None:
    """N consecutive valid readings each at least `points` below the personal baseline."""
    baseline = personal_baseline(params, series, i)
    if baseline is None:
        return None
    n = int(params.get("consecutive", 2))
    recent = series.valid_upto(i)[-n:]
    if len(recent) < n or recent[-1] is not series.points[i]:
        return None
    drop = float(params.get("points", 3))
    if all(baseline - p.value >= drop for p in recent):
        return Hit(rule, series.points[i], {"baseline": f"{baseline:g}"})
    return None


def check_count(rule: Rule, params: Mapping[str, Any], series: Series, i: int) -> Hit | None:
    """At least `count` breaching readings (on different days if asked) within `hours`."""
    point = series.points[i]
    if point.low_quality or not band_hit(rule, params, point):
        return None
    start = point.time - timedelta(hours=float(params.get("hours", 168)))
    hits = [p for p in series.valid_upto(i) if p.time > start and band_hit(rule, params, p)]
    if params.get("distinct_days"):
        n = len({p.time.astimezone(series.zone).date() for p in hits})
    else:
        n = len(hits)
    if n >= int(params.get("count", 2)):
        return Hit(rule, point, {"n": n})
    return None


def check_quality_count(rule: Rule, params: Mapping[str, Any], series: Series,
                        i: int) -> Hit | None:
    """Several readings flagged low quality within a window: check how the device is used."""
    point = series.points[i]
    if not point.low_quality:
        return None
    start = point.time - timedelta(hours=float(params.get("hours", 24)))
    n = sum(1 for p in series.upto(i) if p.low_quality and p.time > start)
    if n >= int(params.get("count", 3)):
        return Hit(rule, point, {"n": n})
    return None


def check_off_schedule(rule: Rule, params: Mapping[str, Any], series: Series,
                       i: int) -> Hit | None:
    """A morning care plan, and `count` of the last `days` days' weights were not morning ones."""
    found = _today(series, i) if series.morning else None
    if found is None or not off_schedule(series, series.points[i]):
        return None
    day, days = found
    window = [day - timedelta(days=k) for k in range(int(params.get("days", 7)))]
    n = sum(1 for d in window if d in days and off_schedule(series, days[d]))
    if n >= int(params.get("count", 3)):
        return Hit(rule, series.points[i], {"n": n})
    return None


Check = Callable[[Rule, Mapping[str, Any], Series, int], Hit | None]

CHECKS: dict[str, Check] = {
    "band": check_band,
    "change": check_change,
    "daily-rise": check_daily_rise,
    "above-dry": check_above_dry,
    "baseline-drop": check_baseline_drop,
    "count": check_count,
    "outlier": check_outlier,
    "quality-count": check_quality_count,
    "off-schedule": check_off_schedule,
}
