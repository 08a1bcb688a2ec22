"""The readings the rules engine needs for a batch: each touched series from its lookback
before the batch's oldest reading, as `Point` tuples: from the series cache when the
database confirms it (`alerts.series_cache`), else in one query for the rest."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from alerts.catalogue import Catalogue, Rule
from alerts.series import Point
from alerts.series_cache import (
    CACHE,
    Entry,
    Mark,
    SeriesCache,
    local_scope,
    marks,
    merged,
    plus,
    total,
)
from alerts.thresholds import Subject
from telehub.domain.readings import StoredReading
from telehub.domain.units import Metric

# History each metric's rules need by default; widened when a patient's params ask for more.
_LOOKBACK = {Metric.WEIGHT: timedelta(days=9), Metric.SPO2: timedelta(days=8),
             Metric.PULSE: timedelta(days=3), Metric.GLUCOSE: timedelta(days=8)}

# A patient measures a few times a day; a series far denser than that (a device stuck in a
# loop, a load test) is cut to its newest readings so one batch cannot stall ingest.
MAX_HISTORY_PER_SERIES = 5000
# One row per series, its readings as arrays in time order (loading an array element costs
# a fraction of loading a row), every array in one total order (time, device, reading key:
# unique within a series); flags as one comma-joined string per reading, '' for none; and
# the database's identity, as alerts.series_cache.MARK_SQL returns it.
_HISTORY_SQL = """
SELECT w.k, h.times, h.vals, h.raws, h.units, h.flags, h.devices,
       (SELECT oid FROM pg_database WHERE datname = current_database()),
       pg_relation_filenode('readings'::regclass)
FROM unnest(%s::bigint[], %s::metric[], %s::timestamptz[]) WITH ORDINALITY
     AS w(pid, metric, since, k)
CROSS JOIN LATERAL (
    SELECT array_agg(r.time ORDER BY r.n) AS times,
           array_agg(r.value ORDER BY r.n) AS vals,
           array_agg(r.raw_value ORDER BY r.n) AS raws,
           array_agg(r.raw_unit::text ORDER BY r.n) AS units,
           array_agg(array_to_string(r.flags, ',') ORDER BY r.n) AS flags,
           array_agg(r.device_id ORDER BY r.n) AS devices
    FROM (SELECT *, row_number() OVER (ORDER BY time, device_id, reading_key) AS n
          FROM (SELECT time, value, raw_value, raw_unit, flags, device_id, reading_key
                FROM readings WHERE patient_id = w.pid AND metric = w.metric
                 AND time >= w.since ORDER BY time DESC LIMIT %s) AS newest) AS r
) AS h
WHERE h.times IS NOT NULL
ORDER BY w.k
"""


def position(points: Sequence[Point], time: datetime, device_id: int | None) -> int | None:
    """The index of the newest point at (`time`, `device_id`), searched from the newest end
    (new readings are nearly always the newest ones)."""
    for k in range(len(points) - 1, -1, -1):
        p = points[k]
        if p.time == time and p.device_id == device_id:
            return k
        if p.time < time:
            return None
    return None


def load_history(conn: psycopg.Connection, readings: Sequence[StoredReading],
                 subjects: Mapping[int, Subject], catalogue: Catalogue,
                 cache: SeriesCache = CACHE) -> dict[tuple[int, Metric], list[Point]]:
    """Each touched series from the lookback before its oldest new reading: the cached points
    of the series whose mark the database confirms (one small query), the rest read."""
    oldest: dict[tuple[int, Metric], datetime] = {}
    fresh: dict[tuple[int, Metric], list[Point]] = {}
    zone = conn.info.timezone
    for r in readings:
        key = (r.patient_id, r.metric)
        oldest[key] = min(oldest.get(key, r.time), r.time)
        fresh.setdefault(key, []).append(as_point(r, zone))
    keys = sorted(oldest)
    by_metric = {metric: catalogue.for_metric(metric) for metric in {k[1] for k in keys}}
    since = {k: oldest[k] - lookback(k[1], subjects.get(k[0]), catalogue, by_metric[k[1]])
             for k in keys}
    local = local_scope(conn)
    out: dict[tuple[int, Metric], list[Point]] = {}
    candidates: list[tuple[tuple[int, Metric], tuple[object, ...], list[Point], Mark]] = []
    for key in keys:
        entry = cache.get((local, *key))
        window = entry.window(since[key]) if entry is not None else None
        points = merged(window[0], fresh[key]) if window is not None else None
        if entry is not None and window is not None and points is not None:
            candidates.append((key, entry.scope, points, plus(window[1], total(fresh[key]))))
    if candidates:
        found, scope = marks(conn, [c[0] for c in candidates], [since[c[0]] for c in candidates])
        for (key, was, points, expected), got in zip(candidates, found, strict=True):
            if was == scope and got == expected:
                out[key] = points
                cache.confirmed += 1
                cache.put((local, *key), Entry(scope, since[key], points, got))
    missing = [k for k in keys if k not in out]
    if missing:
        cache.read += len(missing)
        for key, (points, scope) in _read(conn, missing, [since[k] for k in missing]).items():
            out[key] = points
            if len(points) < MAX_HISTORY_PER_SERIES:     # else the window may be cut short
                cache.put((local, *key), Entry(scope, since[key], points))
            else:
                cache.discard((local, *key))
    return out


def as_point(r: StoredReading, zone: tzinfo) -> Point:
    """A stored reading as the history query would return it (in the session's time zone,
    values as floats, units and flags as text)."""
    raw_unit = getattr(r.raw_unit, "value", r.raw_unit)
    return Point(r.time if r.time.tzinfo is zone else r.time.astimezone(zone), float(r.value),
                 None if r.raw_value is None else float(r.raw_value),
                 None if raw_unit is None else str(raw_unit),
                 tuple(str(getattr(f, "value", f)) for f in r.flags) if r.flags else (),
                 r.device_id)


def _read(conn: psycopg.Connection, keys: Sequence[tuple[int, Metric]],
          since: Sequence[datetime]
          ) -> dict[tuple[int, Metric], tuple[list[Point], tuple[object, ...]]]:
    """The series' points from their `since` (one query), with the database's identity."""
    params = ([k[0] for k in keys], [k[1].value for k in keys], list(since),
              MAX_HISTORY_PER_SERIES)
    rows = conn.cursor(row_factory=tuple_row).execute(_HISTORY_SQL, params).fetchall()
    out: dict[tuple[int, Metric], tuple[list[Point], tuple[object, ...]]] = {}
    for k, times, values, raws, units, flags, devices, db, rel in rows:
        out[keys[k - 1]] = ([Point(t, v, rv, ru, tuple(f.split(",")) if f else (), d)
                             for t, v, rv, ru, f, d in zip(times, values, raws, units, flags,
                                                           devices, strict=True)], (db, rel))
    return out


def rules_span(metric: Metric, param_sets: Iterable[Mapping[str, Any]]) -> timedelta:
    """The history a metric's rules need before a new reading, given each rule's effective
    parameters (a `days` or `hours` window widens it, with two days' margin)."""
    span = _LOOKBACK[metric]
    for params in param_sets:
        for name, unit in (("days", 24.0), ("hours", 1.0)):
            value = params.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                span = max(span, timedelta(hours=float(value) * unit + 48))
    return span


def lookback(metric: Metric, subject: Subject | None, catalogue: Catalogue,
             rules: Sequence[Rule] | None = None) -> timedelta:
    """How far back the metric's rules look for this patient; `rules`: the catalogue's rules
    of the metric, when the caller has them already."""
    if subject is None:
        return _LOOKBACK[metric]
    if not subject.overrides:
        return _default_span(metric, catalogue)
    chosen = catalogue.for_metric(metric) if rules is None else rules
    if not any(rule.id in subject.overrides for rule in chosen):
        return _default_span(metric, catalogue)
    return rules_span(metric, (subject.params(rule) for rule in chosen))


# (catalogue's id, metric) → (the catalogue, the span of its rules' default parameters); the
# catalogue is kept with it, so its id is never another's.
_DEFAULT_SPANS: dict[tuple[int, Metric], tuple[Catalogue, timedelta]] = {}


def _default_span(metric: Metric, catalogue: Catalogue) -> timedelta:
    """The span of the catalogue's parameters of the metric's rules, once per catalogue (most
    patients override none of them)."""
    kept = _DEFAULT_SPANS.get((id(catalogue), metric))
    if kept is None or kept[0] is not catalogue:
        if len(_DEFAULT_SPANS) > 256:      # catalogues parsed again and again (tests)
            _DEFAULT_SPANS.clear()
        kept = (catalogue, rules_span(metric, (rule.params for rule in
                                               catalogue.for_metric(metric))))
        _DEFAULT_SPANS[(id(catalogue), metric)] = kept
    return kept[1]
