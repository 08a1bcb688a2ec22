"""Telecare events: decode, check the device, store once and raise the red alert in the batch."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from alerts.telecare import EVENTS, TelecareEvent, raise_telecare_alerts
from ingest.rejections import Rejection, insert_rejections
from ingest.validate import DeviceRecord, parse_time
from ingest.work_queue import Received
from telehub.config import IngestSettings
from telehub.domain import clock
from telehub.domain.reading_checks import check_sender
from telehub.errors import ValidationError
from telehub.mqtt.topics import parse_device_topic

# Everything happens inside the batch's transaction (acked after commit).
#
# Payload: `{"id": "<unique per device>", "event": "fall", "time": "2026-11-26T08:01:00Z"}`;
# `id` may be left out, and the time then identifies the event.

logger = logging.getLogger(__name__)

# An event is a few dozen bytes; anything much larger is not an event.
EVENT_MAX_BYTES = 4096
EVENT_ID_MAX = 128

_DEVICES_SQL = """
SELECT d.id, d.device_id, d.kind::text AS kind, d.active, d.patient_id,
       p.status::text AS patient_status
FROM devices d LEFT JOIN patients p ON p.id = d.patient_id
WHERE d.device_id = ANY(%s)
"""
_INSERT_SQL = """
INSERT INTO telecare_events (device_id, patient_id, event_key, event, time, received_at)
SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[], %s::timestamptz[],
                     %s::timestamptz[])
ON CONFLICT (device_id, event_key) DO NOTHING
RETURNING id, device_id, patient_id, event, time
"""
_LINK_SQL = """
UPDATE telecare_events e SET alert_id = v.alert_id
FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, alert_id) WHERE e.id = v.id
"""
_TOUCH_SQL = """
UPDATE devices d SET last_seen_at = GREATEST(d.last_seen_at, v.seen)
FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(id, seen) WHERE d.id = v.id
"""


@dataclass(frozen=True)
class DecodedEvent:
    """One event as the device sent it, checked."""

    key: str
    event: str
    time: datetime


@dataclass
class EventsOutcome:
    """What one batch's events did."""

    stored: int = 0
    duplicates: int = 0
    alerts: int = 0
    rejected: Counter[str] = field(default_factory=Counter)


def is_events_topic(topic: str, prefix: str) -> bool:
    """True for a device's events topic under `prefix`."""
    parsed = parse_device_topic(topic, prefix)
    return parsed is not None and parsed[1] == "events"


def decode_event(payload: bytes, *, now: datetime, limits: IngestSettings) -> DecodedEvent:
    """A checked event, or ValidationError with the reason."""
    if not payload.strip():
        raise ValidationError("empty-payload", "The message is empty.")
    if len(payload) > EVENT_MAX_BYTES:
        raise ValidationError("too-large", f"An event is at most {EVENT_MAX_BYTES} bytes.")
    try:
        document: Any = json.loads(payload)
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise ValidationError("not-json", "The message is not valid UTF-8 JSON.") from err
    if not isinstance(document, dict):
        raise ValidationError("not-an-object", "The message is JSON but not an object.")
    event = document.get("event")
    if not isinstance(event, str) or event not in EVENTS:
        raise ValidationError("bad-event", f"'event' must be one of {', '.join(EVENTS)}.")
    when = parse_time(document.get("time"), now=now, limits=limits)
    key = document.get("id")
    if key is None:
        key = when.isoformat()
    elif isinstance(key, int) and not isinstance(key, bool):
        key = str(key)
    if not isinstance(key, str) or not 1 <= len(key.strip()) <= EVENT_ID_MAX:
        raise ValidationError("bad-id", f"'id' must be text of 1–{EVENT_ID_MAX} characters.")
    return DecodedEvent(key.strip(), event, when)


@dataclass
class CheckedEvents:
    """The events of a batch that may be stored, the devices heard from, and the refusals."""

    rows: list[tuple[DeviceRecord, DecodedEvent, Received]] = field(default_factory=list)
    seen: dict[int, datetime] = field(default_factory=dict)
    rejections: list[Rejection] = field(default_factory=list)


def check_events(messages: Sequence[Received], named: Mapping[Received, str],
                 devices: Mapping[str, DeviceRecord], *, now: datetime,
                 limits: IngestSettings) -> CheckedEvents:
    """Check each message's device, then decode its event (no database needed)."""
    checked = CheckedEvents()
    for message in messages:
        device_id = named.get(message)
        try:
            if device_id is None:
                raise ValidationError("bad-topic", "The topic is not a device events topic.")
            device = devices.get(device_id)
            check_sender(device, device_id, sends="events")
            assert device is not None
            checked.seen[device.id] = max(checked.seen.get(device.id, message.received_time),
                                          message.received_time)
            checked.rows.append((device, decode_event(message.payload, now=now, limits=limits),
                                 message))
        except ValidationError as err:
            checked.rejections.append(Rejection(message, device_id, err.code, err.message,
                                                message.payload))
    return checked


def store_events(conn: psycopg.Connection, messages: Sequence[Received], *, prefix: str,
                 limits: IngestSettings, zone: ZoneInfo, now: datetime | None = None
                 ) -> EventsOutcome:
    """Store the events of a batch in the caller's transaction and raise their alerts."""
    now = now or clock.now()
    named = {m: parsed[0] for m in messages
             if (parsed := parse_device_topic(m.topic, prefix)) is not None}
    cur = conn.cursor(row_factory=dict_row)
    devices = {r["device_id"]: DeviceRecord(
        r["id"], r["device_id"], r["active"], r["patient_id"], r["patient_status"], frozenset(),
        kind=r["kind"]) for r in cur.execute(_DEVICES_SQL, (sorted(set(named.values())),))}
    checked = check_events(messages, named, devices, now=now, limits=limits)
    outcome = EventsOutcome()
    if checked.rows:
        _insert_and_alert(conn, checked.rows, outcome, now=now, zone=zone)
    if checked.seen:
        ids = sorted(checked.seen)
        cur.execute(_TOUCH_SQL, (ids, [checked.seen[i] for i in ids]))
    insert_rejections(conn.cursor(), checked.rejections, cap=limits.rejected_payload_cap)
    outcome.rejected.update(r.code for r in checked.rejections)
    if outcome.stored:
        logger.info("telecare: %d event(s) stored, %d alert(s) raised", outcome.stored,
                    outcome.alerts)
    return outcome


def _insert_and_alert(conn: psycopg.Connection,
                      rows: Sequence[tuple[DeviceRecord, DecodedEvent, Received]],
                      outcome: EventsOutcome, *, now: datetime, zone: ZoneInfo) -> None:
    """Insert the events once each, raise their red alerts and link each event to its alert."""
    cur = conn.cursor(row_factory=dict_row)
    inserted = cur.execute(_INSERT_SQL, (
        [d.id for d, _, _ in rows], [d.patient_id for d, _, _ in rows],
        [e.key for _, e, _ in rows], [e.event for _, e, _ in rows],
        [e.time for _, e, _ in rows], [m.received_time for _, _, m in rows])).fetchall()
    outcome.stored = len(inserted)
    outcome.duplicates = len(rows) - len(inserted)
    if not inserted:
        return
    by_pk = {d.id: d.device_id for d, _, _ in rows}
    alerts = raise_telecare_alerts(conn, [
        TelecareEvent(r["patient_id"], r["event"], r["time"], by_pk[r["device_id"]])
        for r in inserted], now, zone)
    outcome.alerts = len(alerts)
    links = [(r["id"], alerts[(r["patient_id"], r["event"])]["id"]) for r in inserted
             if (r["patient_id"], r["event"]) in alerts]
    if links:
        cur.execute(_LINK_SQL, ([i for i, _ in links], [a for _, a in links]))
