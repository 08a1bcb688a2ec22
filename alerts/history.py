"""The readings the rules engine needs for a batch: of each touched series, from its lookback
before the batch's oldest reading, what the rules read (`alerts.history_needs`), in one
query, as `Point` tuples."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from alerts.catalogue import Catalogue
from alerts.history_needs import series_needs
from alerts.series import Point
from alerts.thresholds import Subject
from telehub.domain.codes import LOW_QUALITY_FLAGS
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
# unique within a series); flags as one comma-joined string per reading, '' for none.
#
# Only what the rules read (alerts.history_needs), chosen in the database from one scan of
# the series' lookback: every reading from the batch's oldest new one on; before it, the
# last N valid readings, every reading older than the series' newest less the smallest gap
# a rule needs, and the low-quality readings within the quality window.
_HISTORY_SQL = """
SELECT w.k, h.times, h.vals, h.raws, h.units, h.flags, h.devices, h.keys
FROM unnest(%(pid)b::bigint[], %(metric)b::metric[], %(since)b::timestamptz[],
            %(first)b::timestamptz[], %(last_valid)b::int[], %(gap)b::interval[],
            %(quality)b::interval[]) WITH ORDINALITY
     AS w(pid, metric, since, first_new, last_valid, gap, quality_span, k)
CROSS JOIN LATERAL (
    SELECT array_agg(r.time ORDER BY r.n) AS times,
           array_agg(r.value ORDER BY r.n) AS vals,
           array_agg(r.raw_value ORDER BY r.n) AS raws,
           array_agg(r.raw_unit::text ORDER BY r.n) AS units,
           array_agg(array_to_string(r.flags, ',') ORDER BY r.n) AS flags,
           array_agg(r.device_id ORDER BY r.n) AS devices,
           array_agg(r.reading_key ORDER BY r.n) AS keys
    FROM (SELECT *, row_number() OVER (ORDER BY time, device_id, reading_key) AS n
          FROM (SELECT *, max(time) OVER () AS newest,
                       count(*) FILTER (WHERE time < w.first_new AND NOT low)
                           OVER (ORDER BY time DESC, device_id DESC, reading_key DESC)
                           AS valid_after
                FROM (SELECT time, value, raw_value, raw_unit, flags, device_id, reading_key,
                             flags && %(low_quality)b::text[] AS low
                      FROM readings WHERE patient_id = w.pid AND metric = w.metric
                       AND time >= w.since ORDER BY time DESC LIMIT %(limit)s) AS window_rows
               ) AS ranked
          WHERE time >= w.first_new
             OR (NOT low AND valid_after <= w.last_valid)
             OR time < newest - w.gap
             OR (low AND time >= w.first_new - w.quality_span)) AS r
) AS h
WHERE h.times IS NOT NULL
ORDER BY w.k
"""


def position(points: Sequence[Point], time: datetime, device_id: int | None,
             key: str) -> int | None:
    """The index of the point at (`time`, `device_id`, reading `key`: a device may send two
    readings with one time), searched from the newest end (new readings are nearly always
    the newest ones)."""
    for k in range(len(points) - 1, -1, -1):
        p = points[k]
        if p.time == time and p.device_id == device_id and p.key == key:
            return k
        if p.time < time:
            return None
    return None


def load_history(conn: psycopg.Connection, readings: Sequence[StoredReading],
                 subjects: Mapping[int, Subject], catalogue: Catalogue
                 ) -> dict[tuple[int, Metric], list[Point]]:
    """What the rules read of each touched series, from the lookback before its oldest new
    reading (one query): every reading from that one on, and before it what
    `alerts.history_needs` says the patient's rules of the metric read."""
    oldest: dict[tuple[int, Metric], datetime] = {}
    for r in readings:
        key = (r.patient_id, r.metric)
        oldest[key] = min(oldest.get(key, r.time), r.time)
    keys = sorted(oldest)
    needs = [series_needs(k[1], subjects.get(k[0]), catalogue) for k in keys]
    since = [oldest[k] - lookback(k[1], subjects.get(k[0]), catalogue) for k in keys]
    params = {"pid": [k[0] for k in keys], "metric": [k[1].value for k in keys],
              "since": since, "first": [oldest[k] for k in keys],
              "last_valid": [n.last_valid for n in needs],
              "gap": [n.every_before for n in needs], "quality": [n.low_quality for n in needs],
              "low_quality": sorted(LOW_QUALITY_FLAGS), "limit": MAX_HISTORY_PER_SERIES}
    rows = conn.cursor(row_factory=tuple_row).execute(_HISTORY_SQL, params, binary=True).fetchall()
    out: dict[tuple[int, Metric], list[Point]] = {}
    make = Point._make
    for k, times, values, raws, units, flags, devices, reading_keys in rows:
        out[keys[k - 1]] = [make((t, v, rv, ru, tuple(f.split(",")) if f else (), d, rk))
                            for t, v, rv, ru, f, d, rk in zip(times, values, raws, units, flags,
                                                              devices, reading_keys, strict=True)]
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


def lookback(metric: Metric, subject: Subject | None, catalogue: Catalogue) -> timedelta:
    """How far back the metric's rules look for this patient."""
    if subject is None:
        return _LOOKBACK[metric]
    return catalogue.memo(("lookback", metric, subject.overrides_key), lambda: rules_span(
        metric, (subject.params(rule) for rule in catalogue.for_metric(metric))))
