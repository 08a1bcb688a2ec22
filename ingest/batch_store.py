"""One batch transaction: decode, then validate, then store readings, statuses and refusals."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from ingest.counters import ALERT_ERRORS
from ingest.payloads import DecodedBatch, DecodedStatus, decode_batch
from ingest.rejections import insert_rejections
from ingest.reused_ids import reused_ids
from ingest.status import record_status
from ingest.validate import DeviceRecord, validate_batch
from ingest.work_queue import MessageWork, ReadingsWork, Received, StatusWork, classify
from telehub.config import IngestSettings
from telehub.domain import clock
from telehub.domain.readings import NewReading, StoredReading
from telehub.domain.units import Metric, Unit

# The stages run one way, each handing the next a typed result: `payloads.decode_batch`
# (shapes, no database) → `validate.validate_batch` (devices, units, times, against the
# device rows locked here) → the writes below. In one transaction readings are inserted
# idempotently (one INSERT … ON CONFLICT DO NOTHING RETURNING of the batch's columns as
# arrays, so a redelivered message stores nothing new; a different reading under a stored
# one's identity is refused, `ingest.reused_ids`), refused messages go to
# `rejected_messages`, devices get their last-seen time, battery and sequence gaps, and
# the alerts engine sees exactly the newly stored readings. Only after COMMIT does the
# caller ack.

logger = logging.getLogger(__name__)

Evaluate = Callable[[psycopg.Connection, Sequence[StoredReading]], None]

DEVICES_SQL = """
SELECT d.id, d.device_id, d.active, d.patient_id, d.last_seq, p.status::text,
       p.nhs_number, p.display_id, d.kind::text
  FROM devices d LEFT JOIN patients p ON p.id = d.patient_id
 WHERE d.device_id = ANY(%s)
 ORDER BY d.id
   FOR UPDATE OF d
"""

# One statement, whatever the batch size: the readings travel as one array per column, so a
# lone reading costs one round trip and the statement pipelines with the rest of the
# transaction (COPY cannot: libpq's pipeline mode has no COPY). Flags are a closed
# vocabulary of words (telehub.domain.codes.DEVICE_FLAGS), sent comma-joined.
INSERT_SQL = """
INSERT INTO readings (time, patient_id, device_id, metric, value, unit, raw_value, raw_unit,
                      reading_key, seq, flags, received_at)
SELECT r.time, r.patient_id, r.device_id, r.metric::metric, r.value, r.unit::unit,
       r.raw_value, r.raw_unit::input_unit, r.reading_key, r.seq,
       string_to_array(r.flags, ','), r.received_at
  FROM unnest(%b::timestamptz[], %b::bigint[], %b::bigint[], %b::text[], %b::float8[],
              %b::text[], %b::float8[], %b::text[], %b::text[], %b::bigint[], %b::text[],
              %b::timestamptz[])
       AS r(time, patient_id, device_id, metric, value, unit, raw_value, raw_unit,
            reading_key, seq, flags, received_at)
 ORDER BY r.time
    ON CONFLICT ON CONSTRAINT readings_identity DO NOTHING
RETURNING time, patient_id, device_id, metric::text, value, unit::text, raw_value,
          raw_unit::text, received_at, flags, reading_key
"""

TOUCH_DEVICES_SQL = """
UPDATE devices d
   SET last_seen_at = GREATEST(d.last_seen_at, u.seen),
       battery = COALESCE(u.battery, d.battery),
       last_seq = COALESCE(u.last_seq, d.last_seq)
  FROM unnest(%b::bigint[], %b::timestamptz[], %b::smallint[], %b::bigint[])
       AS u(id, seen, battery, last_seq)
 WHERE d.id = u.id
"""
# The enums by their database spelling, looked up once per row instead of constructed.
_METRICS = {m.value: m for m in Metric}
_UNITS = {u.value: u for u in Unit}

SAVEPOINT_SQL = "SAVEPOINT ingest_rules"
RELEASE_SQL = "RELEASE SAVEPOINT ingest_rules"
ROLLBACK_TO_SQL = "ROLLBACK TO SAVEPOINT ingest_rules"
GAP_SQL = ("INSERT INTO device_seq_gaps (device_id, expected_seq, received_seq) "
           "VALUES (%s, %s, %s)")
@dataclass
class BatchOutcome:
    """What one batch transaction did."""

    stored: list[StoredReading] = field(default_factory=list)
    valid: int = 0                      # readings that passed validation
    rejected: Counter[str] = field(default_factory=Counter)
    statuses: int = 0

    @property
    def duplicates(self) -> int:
        """Valid readings that were already stored."""
        return self.valid - len(self.stored)

    def merge(self, other: BatchOutcome) -> None:
        """Add another outcome's figures to this one."""
        self.stored.extend(other.stored)
        self.valid += other.valid
        self.rejected.update(other.rejected)
        self.statuses += other.statuses


@dataclass
class DeviceActivity:
    """What a batch heard from one device: when, its battery, its message counters."""

    seen: datetime
    battery: int | None = None
    seqs: list[int] = field(default_factory=list)


def store_batch(conn: psycopg.Connection, messages: Sequence[Received | MessageWork], *,
                limits: IngestSettings, prefix: str, evaluate: Evaluate,
                now: datetime | None = None, pipeline: psycopg.Pipeline | None = None
                ) -> BatchOutcome:
    """Store a batch of readings and status messages in the caller's transaction; the caller
    commits, then acks. Telecare events go to `ingest.events`. `pipeline`: the caller's
    pipeline, when `conn` is in pipeline mode."""
    now = now or clock.now()
    work = [classify(m, prefix) if isinstance(m, Received) else m for m in messages]
    decoded = decode_batch([w for w in work if isinstance(w, ReadingsWork | StatusWork)],
                           max_bytes=limits.max_payload_bytes,
                           max_batch=limits.max_batch_readings)
    cur = conn.cursor(row_factory=tuple_row)
    devices = load_devices(cur, decoded.device_ids())
    outcome = BatchOutcome()
    # Status updates after the device rows are locked, so every writer locks in one order.
    outcome.statuses = store_statuses(conn, decoded.statuses, devices)
    checked = validate_batch(decoded, devices, now=now, limits=limits)
    outcome.stored = insert_readings(cur, checked.new)
    reused = reused_ids(cur, checked.new, outcome.stored,
                        {d.id: d.device_id for d in devices.values()})
    outcome.valid = len(checked.new) - len(reused)
    update_devices(cur, devices, device_activity(decoded, devices))
    rejections = [*checked.rejections, *reused]
    insert_rejections(cur, rejections, cap=limits.rejected_payload_cap)
    outcome.rejected.update(r.code for r in rejections)
    if outcome.stored:
        _evaluate(conn, evaluate, outcome.stored, pipeline)
    return outcome


def device_activity(decoded: DecodedBatch, devices: Mapping[str, DeviceRecord]
                    ) -> dict[int, DeviceActivity]:
    """Every registered device heard from, even when what it sent was refused."""
    activity: dict[int, DeviceActivity] = {}

    def touch(device: DeviceRecord, message: Received) -> DeviceActivity:
        entry = activity.setdefault(device.id, DeviceActivity(message.received_time))
        entry.seen = max(entry.seen, message.received_time)
        return entry

    for rejection in decoded.rejections:
        device = devices.get(rejection.device_id or "")
        if device is not None:
            touch(device, rejection.message)
    for item in decoded.readings:
        device = devices.get(item.device_id)
        if device is None:
            continue
        entry = touch(device, item.message)
        if item.content.battery is not None:
            entry.battery = item.content.battery
        entry.seqs.extend(r.seq for r in item.content.readings if r.seq is not None)
    return activity


def load_devices(cur: psycopg.Cursor, device_ids: Iterable[str]) -> dict[str, DeviceRecord]:
    """The named devices that are registered, locked for this transaction."""
    ids = sorted(set(device_ids))
    if not ids:
        return {}
    devices = {}
    for (pk, device_id, active, patient_id, last_seq, status, nhs, display_id,
         kind) in cur.execute(DEVICES_SQL, (ids,)):
        refs = frozenset(str(r) for r in (nhs, display_id, patient_id) if r is not None)
        devices[device_id] = DeviceRecord(pk, device_id, active, patient_id, status, refs,
                                          last_seq, kind)
    return devices


def insert_readings(cur: psycopg.Cursor, new: Sequence[tuple[NewReading, Received]]
                    ) -> list[StoredReading]:
    """Insert readings idempotently; returns only those stored for the first time."""
    if not new:
        return []
    columns: list[list[Any]] = [[] for _ in range(12)]
    for reading, message in new:
        for column, value in zip(columns, (
                reading.time, reading.patient_id, reading.device_id, reading.metric.value,
                reading.value, reading.unit.value, reading.raw_value, reading.raw_unit.value,
                reading.reading_key, reading.seq, ",".join(reading.flags),
                message.received_time), strict=True):
            column.append(value)
    rows = cur.execute(INSERT_SQL, columns).fetchall()
    return [StoredReading(t, p, d, _METRICS[m], v, _UNITS[u], rv, _UNITS[ru], ra,
                          key, tuple(f) if f else ())
            for (t, p, d, m, v, u, rv, ru, ra, f, key) in rows]


def seq_gaps(last_seq: int | None, seqs: Iterable[int]) -> tuple[int | None, list[tuple[int, int]]]:
    """The new last seq and the gaps (expected, received) that `seqs` reveal after `last_seq`.

    Seqs at or below the last one are redeliveries or late arrivals and reveal nothing.
    """
    gaps = []
    last = last_seq
    for seq in sorted(set(seqs)):
        if last is not None and seq <= last:
            continue
        if last is not None and seq > last + 1:
            gaps.append((last + 1, seq))
        last = seq
    return last, gaps


def update_devices(cur: psycopg.Cursor, devices: Mapping[str, DeviceRecord],
                   activity: Mapping[int, DeviceActivity]) -> None:
    """Last seen, battery and last seq of every device heard from; record sequence gaps."""
    if not activity:
        return
    by_id = {d.id: d for d in devices.values()}
    ids, seen, battery, last = [], [], [], []
    gaps: list[tuple[int, int, int]] = []
    for pk, entry in activity.items():
        new_last, found = seq_gaps(by_id[pk].last_seq, entry.seqs)
        gaps.extend((pk, expected, received) for expected, received in found)
        ids.append(pk)
        seen.append(entry.seen)
        battery.append(entry.battery)
        last.append(new_last)
    cur.execute(TOUCH_DEVICES_SQL, (ids, seen, battery, last))
    if gaps:
        cur.executemany(GAP_SQL, gaps)
        logger.info("sequence gaps on %d device(s), %d message(s) missing",
                    len({g[0] for g in gaps}), sum(r - e for _, e, r in gaps))


def store_statuses(conn: psycopg.Connection, statuses: Sequence[DecodedStatus],
                   registered: Mapping[str, DeviceRecord]) -> int:
    """Record each device status that said something; returns how many were recorded.

    Whether a device is registered is read from `registered` (the rows this transaction
    locked), not the UPDATE's row count: in pipeline mode the count is not back yet."""
    recorded = 0
    for item in statuses:
        if item.status is None:
            continue
        if item.device_id not in registered:
            logger.debug("status from unregistered device %s ignored", item.device_id)
            continue
        record_status(conn, item.device_id, item.status, item.message.received_time)
        recorded += 1
    return recorded


def _evaluate(conn: psycopg.Connection, evaluate: Evaluate, stored: Sequence[StoredReading],
              pipeline: psycopg.Pipeline | None) -> None:
    """Run the rules in a savepoint: a broken rule must not lose readings, a lost DB must retry.

    The savepoint is plain SQL, not `conn.transaction()`, which in pipeline mode waits for
    the server on entering and on leaving. A failed statement reports at the next sync, so
    the pipeline syncs before the savepoint is released: a rule's SQL error rolls back to
    it here, not the whole batch at COMMIT."""
    conn.execute(SAVEPOINT_SQL)
    try:
        evaluate(conn, stored)
        if pipeline is not None:
            pipeline.sync()
    except psycopg.OperationalError:
        raise  # the connection or a lock failed: the whole batch is retried
    except Exception:
        ALERT_ERRORS.inc()
        logger.exception("rule evaluation failed for %d new reading(s); readings kept",
                         len(stored))
        if pipeline is not None:
            try:
                pipeline.sync()     # statements still in flight report (and are dropped)
            except psycopg.OperationalError:
                raise
            except psycopg.Error:
                pass                # that error was the rules' own, logged above
        conn.execute(ROLLBACK_TO_SQL)
        return
    conn.execute(RELEASE_SQL)
