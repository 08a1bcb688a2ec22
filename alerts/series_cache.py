"""Each touched series' recent readings kept in this process between batches, and the check
that they are still exactly what the database holds.

A hub evaluates the same series batch after batch; re-reading and re-building its whole
lookback window every time cost more than the rules. So the points of each series are kept
here with the time from which they are complete (`since`) and a mark of their content: how
many readings, and the sums of their times (µs), values (thousandths) and a signature of
their flags. Before a batch uses them, one query computes the same mark in the database
over the series' window (an index-only scan of the readings index, which carries value and
flags): only when it equals the cached points' mark plus the batch's own new readings are
the cached points used. Anything else — another hub's readings on a shared subscription, a
late reading stored by another process, a rolled-back batch whose readings the cache saw,
a truncated or recreated database — changes the mark (or the database's identity, which
the query also returns), and that series is read afresh.

Readings are never updated in place by Telehub (only inserted, and deleted by retention
far behind every window), which is what makes a mark of their content a safe check."""

from __future__ import annotations

import threading
from bisect import bisect_left, insort
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from alerts.series import Point
from telehub.domain.units import Metric

# Points kept across all series (about 0.4 kB each, so some 40 MB): every series' lookback
# window for about a thousand patients measuring several times a day; the least recently
# used series go first. Twice this cost the hub 80 MB more in a 20,000-device morning peak.
MAX_CACHED_POINTS = 100_000

Mark = tuple[int, int, int, int]
_ZERO: Mark = (0, 0, 0, 0)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)

# The mark of each series' readings from its `since` (see `mark`), computed from the index.
# With them, the database's identity: a dropped and recreated database, or a truncated
# readings table, is another one.
MARK_SQL = """
SELECT w.k, m.n, m.us, m.milli, m.fl,
       (SELECT oid FROM pg_database WHERE datname = current_database()),
       pg_relation_filenode('readings'::regclass)
FROM unnest(%s::bigint[], %s::metric[], %s::timestamptz[]) WITH ORDINALITY
     AS w(pid, metric, since, k)
CROSS JOIN LATERAL (
    SELECT count(*) AS n,
           coalesce(sum((extract(epoch FROM r.time) * 1000000)::bigint), 0) AS us,
           coalesce(sum((r.value * 1000)::bigint), 0) AS milli,
           coalesce(sum(length(array_to_string(r.flags, ','))
                        + 131 * ascii(array_to_string(r.flags, ','))), 0) AS fl
    FROM readings r
    WHERE r.patient_id = w.pid AND r.metric = w.metric AND r.time >= w.since
) AS m
ORDER BY w.k
"""


def mark(point: Point) -> Mark:
    """One reading's share of a series' mark, as MARK_SQL computes it."""
    flags = ",".join(point.flags)
    return (1, (point.time - _EPOCH) // _US, round(point.value * 1000),
            len(flags) + 131 * (ord(flags[0]) if flags else 0))


def plus(a: Mark, b: Mark, sign: int = 1) -> Mark:
    """The mark of two sets of readings together (`sign` -1: of `a` without `b`)."""
    return (a[0] + sign * b[0], a[1] + sign * b[1], a[2] + sign * b[2], a[3] + sign * b[3])


def total(points: Iterable[Point]) -> Mark:
    """The mark of several readings."""
    out = _ZERO
    for p in points:
        out = plus(out, mark(p))
    return out


def order(point: Point) -> tuple[datetime, bool, int]:
    """A point's place in a series: the history query's ORDER BY time, device_id (NULLS LAST)."""
    return point.time, point.device_id is None, point.device_id or 0


@dataclass
class Entry:
    """A series' points from `since` on, complete when cached, with their mark (computed when
    first needed: a series read once and never again costs no mark)."""

    scope: tuple[Any, ...]
    since: datetime
    points: list[Point]
    mark: Mark | None = None

    def window(self, since: datetime) -> tuple[list[Point], Mark] | None:
        """The points from `since` on and their mark; None when `since` is before this entry."""
        if since < self.since:
            return None
        if self.mark is None:
            self.mark = total(self.points)
        lo = bisect_left(self.points, since, key=lambda p: p.time)
        dropped = self.points[:lo]
        return self.points[lo:], plus(self.mark, total(dropped), -1) if dropped else self.mark


def merged(points: list[Point], new: Sequence[Point]) -> list[Point] | None:
    """`points` with the `new` ones in their places; None when a new point shares its time and
    device with another (their order in the database then rests on the reading key)."""
    out = list(points)
    places = {(p.time, p.device_id) for p in new}
    if len(places) < len(new):
        return None
    fresh = sorted(new, key=order)
    if not out or order(fresh[0]) > order(out[-1]):
        out.extend(fresh)
        return out
    for p in fresh:
        k = bisect_left(out, order(p), key=order)
        if k < len(out) and (out[k].time, out[k].device_id) == (p.time, p.device_id):
            return None
        insort(out, p, key=order)
    return out


class SeriesCache:
    """Series' points by (database, patient, metric), least recently used dropped first."""

    def __init__(self, max_points: int = MAX_CACHED_POINTS) -> None:
        self._max_points = max_points
        self._entries: OrderedDict[tuple[Any, ...], Entry] = OrderedDict()
        self._points = 0
        self._lock = threading.Lock()
        self.confirmed = 0      # series served from the cache, their mark confirmed
        self.read = 0           # series read from the database (not kept, or changed)

    def get(self, key: tuple[Any, ...]) -> Entry | None:
        """The entry of a series, if kept."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: tuple[Any, ...], entry: Entry) -> None:
        """Keep (or replace) a series' entry."""
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._points -= len(old.points)
            if len(entry.points) > self._max_points:
                return
            self._entries[key] = entry
            self._points += len(entry.points)
            while self._points > self._max_points:
                _, gone = self._entries.popitem(last=False)
                self._points -= len(gone.points)

    def discard(self, key: tuple[Any, ...]) -> None:
        """Forget a series."""
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._points -= len(old.points)

    def clear(self) -> None:
        """Forget every series."""
        with self._lock:
            self._entries.clear()
            self._points = 0

    def __len__(self) -> int:
        return len(self._entries)


CACHE = SeriesCache()


def local_scope(conn: psycopg.Connection) -> tuple[Any, ...]:
    """Which database a connection is to, as far as the client can tell."""
    info = conn.info
    return info.host, info.port, info.dbname


def marks(conn: psycopg.Connection, keys: Sequence[tuple[int, Metric]],
          since: Sequence[datetime]) -> tuple[list[Mark], tuple[Any, ...]]:
    """Each series' mark in the database from its `since`, and the database's identity."""
    rows = conn.cursor(row_factory=tuple_row).execute(
        MARK_SQL, ([k[0] for k in keys], [k[1].value for k in keys], list(since))).fetchall()
    out = [(int(n), int(us), int(milli), int(fl)) for _, n, us, milli, fl, _, _ in rows]
    return out, (rows[0][5], rows[0][6]) if rows else ()
