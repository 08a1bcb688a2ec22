"""The readings the rules engine needs for a batch: each touched series from its lookback
before the batch's oldest reading, in one query, as `Point` tuples."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import psycopg
from psycopg.rows import tuple_row

from alerts.catalogue import Catalogue
from alerts.series import Point
from alerts.thresholds import Subject
from telehub.domain.readings import StoredReading
from telehub.domain.units import Metric

# History each metric's rules need by default; widened when a patient's params ask for more.
_LOOKBACK = {Metric.WEIGHT: timedelta(days=9), Metric.SPO2: timedelta(days=8),
             Metric.PULSE: timedelta(days=3), Metric.GLUCOSE: timedelta(days=8)}

# A patient measures a few times a day; a series far denser than that (a device stuck in a
# loop, a load test) is cut to its newest readings so one batch cannot stall ingest.
MAX_HISTORY_PER_SERIES = 5000
# Tuple rows in `Point`'s field order, each tagged with its series' place in the request
# (no metric to convert per row).
_HISTORY_SQL = """
SELECT w.k, r.time, r.value, r.raw_value, r.raw_unit::text, r.flags, r.device_id
FROM unnest(%s::bigint[], %s::metric[], %s::timestamptz[]) WITH ORDINALITY
     AS w(pid, metric, since, k)
CROSS JOIN LATERAL (
    SELECT time, value, raw_value, raw_unit, flags, device_id FROM readings
    WHERE patient_id = w.pid AND metric = w.metric AND time >= w.since
    ORDER BY time DESC LIMIT %s
) AS r
ORDER BY w.k, r.time, r.device_id
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
                 subjects: Mapping[int, Subject], catalogue: Catalogue
                 ) -> dict[tuple[int, Metric], list[Point]]:
    """Each touched series from the lookback before its oldest new reading (one query)."""
    oldest: dict[tuple[int, Metric], datetime] = {}
    for r in readings:
        key = (r.patient_id, r.metric)
        oldest[key] = min(oldest.get(key, r.time), r.time)
    keys = sorted(oldest)
    since = [oldest[k] - lookback(k[1], subjects.get(k[0]), catalogue) for k in keys]
    params = ([k[0] for k in keys], [k[1].value for k in keys], since, MAX_HISTORY_PER_SERIES)
    rows = conn.cursor(row_factory=tuple_row).execute(_HISTORY_SQL, params).fetchall()
    out: dict[tuple[int, Metric], list[Point]] = {}
    for k, time, value, raw_value, raw_unit, flags, device_id in rows:
        key = keys[k - 1]
        points = out.get(key)
        if points is None:
            points = out[key] = []
        points.append(Point(time, value, raw_value, raw_unit, tuple(flags) if flags else (),
                            device_id))
    return out


def lookback(metric: Metric, subject: Subject | None, catalogue: Catalogue) -> timedelta:
    """How far back the metric's rules look for this patient (their days and hours + 48 h)."""
    span = _LOOKBACK[metric]
    if subject is None:
        return span
    for rule in catalogue.for_metric(metric):
        params = subject.params(rule)
        for name, unit in (("days", 24.0), ("hours", 1.0)):
            value = params.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                span = max(span, timedelta(hours=float(value) * unit + 48))
    return span
