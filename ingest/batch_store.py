"""The batch writer: one transaction stores a batch of MQTT messages, then they are acked.

In one transaction: readings are inserted idempotently (COPY into a temporary
table, then INSERT … ON CONFLICT DO NOTHING RETURNING, so a redelivered message
stores nothing new), refused messages go to `rejected_messages`, devices get
their last-seen time, battery and sequence gaps, and the alerts engine sees
exactly the newly stored readings. Only after COMMIT does the caller ack.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg
from psycopg.rows import tuple_row

from ingest.payloads import Decoded, decode_payload, item_bytes
from ingest.status import decode_status, record_status
from ingest.validate import DeviceRecord, check_device, validate_reading
from ingest.work_queue import Received
from telehub.config import IngestSettings
from telehub.domain.readings import NewReading, StoredReading
from telehub.domain.units import Metric, Unit
from telehub.errors import ValidationError
from telehub.mqtt.topics import parse_device_topic

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

# Rows vanish at COMMIT; the table lives as long as the pooled connection.
INCOMING_SQL = ("CREATE TEMP TABLE IF NOT EXISTS ingest_incoming "
                "(LIKE readings INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
READING_COLUMNS = ("time, patient_id, device_id, metric, value, unit, raw_value, raw_unit, "
                   "reading_key, seq, flags, received_at")
COPY_SQL = f"COPY ingest_incoming ({READING_COLUMNS}) FROM STDIN"
INSERT_SQL = """
INSERT INTO readings (time, patient_id, device_id, metric, value, unit, raw_value, raw_unit,
                      reading_key, seq, flags, received_at)
SELECT time, patient_id, device_id, metric, value, unit, raw_value, raw_unit,
       reading_key, seq, flags, received_at
  FROM ingest_incoming ORDER BY time
    ON CONFLICT ON CONSTRAINT readings_identity DO NOTHING
RETURNING time, patient_id, device_id, metric::text, value, unit::text, raw_value,
          raw_unit::text, received_at, flags
"""

TOUCH_DEVICES_SQL = """
UPDATE devices d
   SET last_seen_at = GREATEST(d.last_seen_at, u.seen),
       battery = COALESCE(u.battery, d.battery),
       last_seq = COALESCE(u.last_seq, d.last_seq)
  FROM unnest(%s::bigint[], %s::timestamptz[], %s::smallint[], %s::bigint[])
       AS u(id, seen, battery, last_seq)
 WHERE d.id = u.id
"""
GAP_SQL = ("INSERT INTO device_seq_gaps (device_id, expected_seq, received_seq) "
           "VALUES (%s, %s, %s)")
# A refusal's sentence may quote what the device sent; keep it readable and storable.
REASON_MAX = 500

REJECT_SQL = """
INSERT INTO rejected_messages
    (received_at, topic, device_id, reason_code, reason, payload, payload_size, item_index)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
"""


@dataclass(frozen=True)
class Rejection:
    """A message, or one reading of it, that was refused."""

    message: Received
    device_id: str | None
    code: str
    reason: str
    payload: bytes = field(repr=False)
    item_index: int | None = None


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
class _DeviceActivity:
    seen: datetime
    battery: int | None = None
    seqs: list[int] = field(default_factory=list)


@dataclass
class _Sorted:
    """A batch's messages by what happens to them next."""

    readings: list[tuple[Received, str, Decoded]] = field(default_factory=list)
    statuses: list[tuple[Received, str]] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    def device_ids(self) -> set[str]:
        """Every device id the batch's topics name."""
        return ({r.device_id for r in self.rejections if r.device_id}
                | {device_id for _, device_id, _ in self.readings}
                | {device_id for _, device_id in self.statuses})


def store_batch(conn: psycopg.Connection, messages: Sequence[Received], *,
                limits: IngestSettings, prefix: str, evaluate: Evaluate,
                now: datetime | None = None) -> BatchOutcome:
    """Store a batch in the caller's transaction; the caller commits, then acks."""
    now = now or datetime.now(UTC)
    cur = conn.cursor(row_factory=tuple_row)
    batch = decode_messages(messages, limits=limits, prefix=prefix)
    devices = load_devices(cur, batch.device_ids())
    outcome = BatchOutcome()
    # Status updates after the device rows are locked, so every writer locks in one order.
    outcome.statuses = sum(_store_status(conn, m, d) for m, d in batch.statuses)
    activity: dict[int, _DeviceActivity] = {}
    for rejection in batch.rejections:
        if rejection.device_id in devices:
            _touch(activity, devices[rejection.device_id], rejection.message, None)
    new: list[tuple[NewReading, Received]] = []
    for message, device_id, content in batch.readings:
        _validate_message(message, device_id, content, devices.get(device_id), limits=limits,
                          now=now, new=new, rejections=batch.rejections, activity=activity)

    outcome.valid = len(new)
    outcome.stored = insert_readings(cur, new)
    update_devices(cur, devices, activity)
    insert_rejections(cur, batch.rejections, cap=limits.rejected_payload_cap)
    outcome.rejected.update(r.code for r in batch.rejections)
    if outcome.stored:
        _evaluate(conn, evaluate, outcome.stored)
    return outcome


def decode_messages(messages: Sequence[Received], *, limits: IngestSettings,
                    prefix: str) -> _Sorted:
    """Sort a batch by topic and decode readings payloads (no database needed)."""
    batch = _Sorted()
    for message in messages:
        parsed = parse_device_topic(message.topic, prefix)
        if parsed is None or parsed[1] not in ("readings", "status"):
            batch.rejections.append(Rejection(message, None, "bad-topic", "The topic is not a "
                                              "device readings or status topic.",
                                              message.payload))
            continue
        device_id, kind = parsed
        if kind == "status":
            batch.statuses.append((message, device_id))
            continue
        try:
            batch.readings.append((message, device_id, decode_payload(
                message.payload, max_bytes=limits.max_payload_bytes,
                max_batch=limits.max_batch_readings)))
        except ValidationError as err:
            batch.rejections.append(Rejection(message, device_id, err.code, err.message,
                                              message.payload))
    return batch


def _validate_message(message: Received, device_id: str, content: Decoded,
                      device: DeviceRecord | None, *, limits: IngestSettings, now: datetime,
                      new: list[tuple[NewReading, Received]], rejections: list[Rejection],
                      activity: dict[int, _DeviceActivity]) -> None:
    if device is not None:
        _touch(activity, device, message, content)
    try:
        device = check_device(device, device_id)
    except ValidationError as err:
        rejections.append(Rejection(message, device_id, err.code, err.message, message.payload))
        return
    for error in content.errors:
        rejections.append(Rejection(message, device_id, error.code, error.reason,
                                    item_bytes(error.item), error.index))
    for raw in content.readings:
        try:
            new.append((validate_reading(raw, device, now=now, limits=limits), message))
        except ValidationError as err:
            payload = message.payload if raw.index is None else item_bytes(raw.item)
            rejections.append(Rejection(message, device_id, err.code, err.message, payload,
                                        raw.index))


def _touch(activity: dict[int, _DeviceActivity], device: DeviceRecord, message: Received,
           content: Decoded | None) -> None:
    seen = message.received_time
    entry = activity.setdefault(device.id, _DeviceActivity(seen))
    entry.seen = max(entry.seen, seen)
    if content is not None:
        if content.battery is not None:
            entry.battery = content.battery
        entry.seqs.extend(r.seq for r in content.readings if r.seq is not None)


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
    cur.execute(INCOMING_SQL)
    with cur.copy(COPY_SQL) as copy:
        for reading, message in new:
            copy.write_row((reading.time, reading.patient_id, reading.device_id,
                            reading.metric.value, reading.value, reading.unit.value,
                            reading.raw_value, reading.raw_unit.value, reading.reading_key,
                            reading.seq, list(reading.flags), message.received_time))
    rows = cur.execute(INSERT_SQL).fetchall()
    return [StoredReading(time=t, patient_id=p, device_id=d, metric=Metric(m), value=v,
                          unit=Unit(u), raw_value=rv, raw_unit=Unit(ru), received_at=ra,
                          flags=tuple(f)) for (t, p, d, m, v, u, rv, ru, ra, f) in rows]


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


def update_devices(cur: psycopg.Cursor, devices: dict[str, DeviceRecord],
                   activity: dict[int, _DeviceActivity]) -> None:
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


def insert_rejections(cur: psycopg.Cursor, rejections: Sequence[Rejection], *, cap: int) -> None:
    """Record refused messages with their reason and (capped) raw payload."""
    if not rejections:
        return
    cur.executemany(REJECT_SQL, [
        (r.message.received_time, r.message.topic, r.device_id, r.code,
         r.reason.replace("\x00", "")[:REASON_MAX], r.payload[:cap], len(r.payload),
         r.item_index) for r in rejections])


def reject_unstorable(conn: psycopg.Connection, message: Received, *, prefix: str,
                      code: str, reason: str) -> None:
    """Keep a message the writer could not store at all, whole, so it can be replayed."""
    parsed = parse_device_topic(message.topic, prefix)
    rejection = Rejection(message, parsed[0] if parsed else None, code, reason, message.payload)
    insert_rejections(conn.cursor(), [rejection], cap=len(message.payload))


def _store_status(conn: psycopg.Connection, message: Received, device_id: str) -> int:
    status = decode_status(message.payload)
    if status is None:
        return 0
    if not record_status(conn, device_id, status, message.received_time):
        logger.debug("status from unregistered device %s ignored", device_id)
        return 0
    return 1


def _evaluate(conn: psycopg.Connection, evaluate: Evaluate,
              stored: Sequence[StoredReading]) -> None:
    """Run the rules in a savepoint: a broken rule must not lose readings, a lost DB must retry."""
    from ingest.counters import ALERT_ERRORS

    try:
        with conn.transaction():
            evaluate(conn, stored)
    except psycopg.OperationalError:
        raise  # the connection or a lock failed: the whole batch is retried
    except Exception:
        ALERT_ERRORS.inc()
        logger.exception("rule evaluation failed for %d new reading(s); readings kept",
                         len(stored))
