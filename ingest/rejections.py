"""Refused messages: what was refused and why, kept in `rejected_messages` with the raw payload."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import psycopg

from ingest.work_queue import Received
from telehub.mqtt.topics import parse_device_topic

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
