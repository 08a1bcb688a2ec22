"""Retention: old raw readings, rejected messages and delivered notifications, trimmed in
small batches by the alert scheduler (docs/operations/retention.md).

What is deleted, and what never is:

* readings measured before local midnight `readings_days` days ago, except the readings an
  unresolved alert rests on: every reading of that patient from the rules' lookback before
  the alert's first breach onwards stays until a nurse resolves the alert (the matron
  reviewing it sees the trend that raised it). The cut never falls inside the history a rule
  needs: the rules' longest lookback (catalogue and every patient's current overrides) after
  the oldest store-and-forward reading ingest accepts, and the scheduler's own look back;
* rejected messages received before the cut of `rejected_days`;
* outbox events whose every delivery was made before the cut of `outbox_days` (their
  delivery rows go with them); an event with any delivery still to make is never deleted;
* never alerts, alert events, care records or the audit log.

Each batch is one short transaction under the scheduler's one-pass-at-a-time lock, so two
hubs never delete side by side and no lock is held for long. Where TimescaleDB holds the
readings as a hypertable, whole chunks older than the cut (moved back to the oldest
evidence) are dropped instead of deleting rows; chunks start at UTC midnights, so the rest of
the local day the oldest kept chunk starts in is deleted with them (whole days on both paths).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import tuple_row
from psycopg_pool import ConnectionPool

from alerts.catalogue import Catalogue, load_catalogue
from alerts.history import rules_span
from telehub.config import Settings
from telehub.db.timescale import readings_is_hypertable
from telehub.domain import clock
from telehub.domain.units import Metric
from telehub.errors import ConfigError

logger = logging.getLogger(__name__)

READINGS, REJECTED, OUTBOX = "readings", "rejected_messages", "outbox"
DAY = timedelta(days=1)

_OVERRIDES_SQL = "SELECT rule_id, params FROM thresholds WHERE superseded_at IS NULL"
# Readings before the cut that no unresolved alert rests on (ctid: the plain table has no key
# of one column; a TID scan deletes them).
_READINGS_SQL = """
DELETE FROM readings WHERE ctid = ANY(ARRAY(
    SELECT r.ctid FROM readings r
    WHERE r.time < %(cut)s
      AND NOT EXISTS (SELECT 1 FROM alerts a
                      WHERE a.patient_id = r.patient_id AND a.status <> 'resolved'
                        AND r.time >= a.first_breach_at - %(evidence)s)
    LIMIT %(limit)s))
"""
_REJECTED_SQL = """
DELETE FROM rejected_messages WHERE id = ANY(ARRAY(
    SELECT id FROM rejected_messages WHERE received_at < %(cut)s LIMIT %(limit)s))
"""
# Planned events every delivery of which was made before the cut (deliveries cascade).
_OUTBOX_SQL = """
DELETE FROM outbox WHERE id = ANY(ARRAY(
    SELECT o.id FROM outbox o
    WHERE o.planned_at < %(cut)s
      AND NOT EXISTS (SELECT 1 FROM outbox_deliveries d
                      WHERE d.outbox_id = o.id
                        AND (d.delivered_at IS NULL OR d.delivered_at >= %(cut)s))
    LIMIT %(limit)s))
"""
_SQL = {READINGS: _READINGS_SQL, REJECTED: _REJECTED_SQL, OUTBOX: _OUTBOX_SQL}
_OLDEST_EVIDENCE_SQL = """
SELECT min(first_breach_at) - %s FROM alerts WHERE status <> 'resolved'
"""
_OLDEST_CHUNK_SQL = """
SELECT min(range_start) FROM timescaledb_information.chunks
WHERE hypertable_schema = current_schema() AND hypertable_name = 'readings'
"""
# TimescaleDB: the rest of a local day whose first hours went with a dropped chunk (chunks
# start at UTC midnights, local days need not), but no reading an unresolved alert rests on.
# By time, not ctid: a ctid names a row only within one chunk.
_DAY_TAIL_SQL = """
DELETE FROM readings r
WHERE r.time >= %(start)s AND r.time < %(end)s
  AND NOT EXISTS (SELECT 1 FROM alerts a
                  WHERE a.patient_id = r.patient_id AND a.status <> 'resolved'
                    AND r.time >= a.first_breach_at - %(evidence)s)
"""


@dataclass(frozen=True)
class Trimmed:
    """Rows one retention pass deleted (outbox: events; their deliveries went with them)."""

    deleted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_SQL, 0))
    batches: int = 0
    chunks_dropped: int = 0

    @property
    def total(self) -> int:
        """Every row deleted."""
        return sum(self.deleted.values())


def rules_lookback(catalogue: Catalogue,
                   overrides: Iterable[tuple[str, Mapping[str, Any]]] = ()) -> timedelta:
    """The longest history any rule needs before a reading: the catalogue's windows and every
    current per-patient override's (a clinician may widen a rule's `days`)."""
    by_rule: dict[str, list[Mapping[str, Any]]] = {}
    for rule_id, params in overrides:
        by_rule.setdefault(rule_id, []).append(params)
    spans = []
    for metric in Metric:
        rules = catalogue.for_metric(metric)
        sets = [r.params for r in rules] + [p for r in rules for p in by_rule.get(r.id, [])]
        spans.append(rules_span(metric, sets))
    return max(spans)


def readings_needed(settings: Settings, rules: timedelta, scheduler_history: timedelta
                    ) -> timedelta:
    """How long readings must stay for every rule to see its history: a store-and-forward
    reading as old as ingest accepts still finds its rules' lookback, and the scheduler's
    'no reading since' rules still find the last reading."""
    return max(timedelta(days=settings.ingest.horizon_days) + rules, scheduler_history)


def check_policy(settings: Settings, scheduler_history: timedelta,
                 catalogue: Catalogue | None = None) -> None:
    """Refuse a readings retention shorter than the rules need (ConfigError, at start)."""
    days = settings.retention.readings_days
    if days is None:
        return
    needed = readings_needed(settings, rules_lookback(catalogue or load_catalogue()),
                             scheduler_history)
    if timedelta(days=days) < needed:
        raise ConfigError(
            f"TELEHUB_RETENTION__READINGS_DAYS={days} is shorter than the rules need: "
            f"{math.ceil(needed / DAY)} days (the oldest store-and-forward reading accepted, "
            f"TELEHUB_INGEST__HORIZON_DAYS={settings.ingest.horizon_days}, plus the longest "
            "rule lookback). Keep readings longer, or leave it unset to keep them all.")


def cut_before(now: datetime, days: int, zone: ZoneInfo) -> datetime:
    """The start of the local day `days` days before today's: rows older than this go, so a
    day's readings are kept or deleted whole, clock-change days included."""
    return clock.day_start(clock.service_date(now, zone) - timedelta(days=days), zone)


class Retention:
    """One retention pass at a time, in batches, each under the scheduler's lock."""

    def __init__(self, settings: Settings, pool: ConnectionPool, *,
                 lock: Callable[[psycopg.Connection], bool],
                 scheduler_history: timedelta) -> None:
        check_policy(settings, scheduler_history)
        self._policy = settings.retention
        self._settings = settings
        self._pool = pool
        self._lock = lock
        self._history = scheduler_history
        self._zone = settings.zone
        self._kept_days = settings.retention.readings_days   # what the last pass kept

    @property
    def enabled(self) -> bool:
        """Whether anything is ever deleted (the default keeps everything)."""
        p = self._policy
        return any(d is not None for d in (p.readings_days, p.rejected_days, p.outbox_days))

    def run_once(self, now: datetime | None = None) -> Trimmed | None:
        """One pass at `now`; None when another hub holds the lock (or nothing is set)."""
        if not self.enabled:
            return None
        now = now or clock.now()
        with self._pool.connection() as conn:
            cuts, evidence = self._cuts(conn, now)
            hypertable = readings_is_hypertable(conn)
        deleted = dict.fromkeys(_SQL, 0)
        budget, batches, chunks = self._policy.max_rows_per_pass, 0, 0
        if hypertable and READINGS in cuts:
            dropped = self._drop_chunks(cuts.pop(READINGS), evidence)
            if dropped is None:
                return None
            chunks, deleted[READINGS] = dropped
        for table in (REJECTED, OUTBOX, READINGS):
            cut = cuts.get(table)
            while cut is not None and budget > 0:
                limit = min(self._policy.batch_rows, budget)
                with self._pool.connection() as conn:
                    if not self._lock(conn):
                        return None if batches == 0 else Trimmed(deleted, batches, chunks)
                    n = conn.execute(_SQL[table], {"cut": cut, "limit": limit,
                                                   "evidence": evidence}).rowcount
                batches += 1
                deleted[table] += n
                budget -= n
                if n < limit:
                    break
        result = Trimmed(deleted, batches, chunks)
        if result.total or chunks:
            logger.info("retention: deleted %s readings, %s rejected messages, %s delivered "
                        "notifications in %s batches; %s reading chunks dropped",
                        deleted[READINGS], deleted[REJECTED], deleted[OUTBOX], batches, chunks)
        return result

    def _cuts(self, conn: psycopg.Connection, now: datetime
              ) -> tuple[dict[str, datetime], timedelta]:
        """Each table's cut at `now`, and how far before an unresolved alert's first breach
        its evidence starts."""
        p = self._policy
        overrides = [(r[0], r[1]) for r in
                     conn.cursor(row_factory=tuple_row).execute(_OVERRIDES_SQL).fetchall()]
        rules = rules_lookback(load_catalogue(), overrides)
        cuts: dict[str, datetime] = {}
        if p.readings_days is not None:
            needed = readings_needed(self._settings, rules, self._history)
            days = max(p.readings_days, math.ceil(needed / DAY))
            if days != self._kept_days and days > p.readings_days:
                logger.warning("retention: keeping readings %s days, not %s: a patient's "
                               "threshold override looks back further", days, p.readings_days)
            self._kept_days = days
            cuts[READINGS] = cut_before(now, days, self._zone)
        if p.rejected_days is not None:
            cuts[REJECTED] = cut_before(now, p.rejected_days, self._zone)
        if p.outbox_days is not None:
            cuts[OUTBOX] = cut_before(now, p.outbox_days, self._zone)
        return cuts, rules

    def _drop_chunks(self, cut: datetime, evidence: timedelta) -> tuple[int, int] | None:
        """TimescaleDB: drop whole reading chunks older than the cut, moved back to the oldest
        unresolved alert's evidence (a chunk cannot keep some rows), then the rest of the
        local day the oldest kept chunk starts in, so a day is kept or deleted whole. Returns
        (chunks dropped, readings deleted); None when locked out."""
        with self._pool.connection() as conn:
            if not self._lock(conn):
                return None
            cur = conn.cursor(row_factory=tuple_row)
            row = cur.execute(_OLDEST_EVIDENCE_SQL, (evidence,)).fetchone()
            chunk_cut = min(cut, row[0]) if row and row[0] is not None else cut
            chunks = len(cur.execute("SELECT drop_chunks('readings', older_than => %s)",
                                     (chunk_cut,)).fetchall())
            row = cur.execute(_OLDEST_CHUNK_SQL).fetchone()
            start = row[0] if row else None
            # The chunk starts at a UTC midnight: unless that is a local one too, the rest of
            # its local day goes with the day's first hours.
            end = None if start is None else clock.next_midnight(start, self._zone)
            if end is None or end == start or end > cut:
                return chunks, 0
            rows = cur.execute(_DAY_TAIL_SQL, {"start": start, "end": end,
                                               "evidence": evidence}).rowcount
            return chunks, rows

