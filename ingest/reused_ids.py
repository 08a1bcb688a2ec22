"""Readings sent under the identity of a stored reading with another value: refused, not dropped.

A reading's identity is (device, metric, reading id, time). A redelivered message carries
the very reading already stored, so the insert stores nothing new and that is right. A
reading with the identity of a stored one but another value or range flags is a different
measurement under a reused id: the insert would drop it as a duplicate and nobody would
know. It is refused instead (`reading-id-reused`, kept in `rejected_messages` with its
payload), so an operator sees the device fault or the correction that was not applied.

Only readings the insert did not store are looked at, so a batch with no duplicate costs
nothing; a redelivered batch costs one query on the identity index.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import psycopg

from ingest.rejections import Rejection
from ingest.work_queue import Received
from telehub.domain.reading_checks import reused_id
from telehub.domain.readings import NewReading, StoredReading

Identity = tuple[int, str, str, datetime]

STORED_SQL = """
SELECT r.device_id, r.metric::text, r.reading_key, r.time, r.value, r.flags
  FROM unnest(%b::bigint[], %b::text[], %b::text[], %b::timestamptz[])
       AS k(device_id, metric, reading_key, time)
  JOIN readings r ON r.device_id = k.device_id AND r.metric = k.metric::metric
                 AND r.reading_key = k.reading_key AND r.time = k.time
"""


def _identity(reading: NewReading | StoredReading) -> Identity:
    return (reading.device_id, reading.metric.value, reading.reading_key, reading.time)


def reused_ids(cur: psycopg.Cursor, new: Sequence[tuple[NewReading, Received]],
               stored: Sequence[StoredReading], device_names: Mapping[int, str]
               ) -> list[Rejection]:
    """The readings of `new` that the insert did not store because their identity is stored
    with another measurement (by an earlier message, or earlier in this batch)."""
    kept: dict[Identity, tuple[float, tuple[str, ...]]] = {
        _identity(s): (s.value, s.flags) for s in stored}
    if len(kept) == len(new):
        return []
    earlier = {_identity(r) for r, _ in new} - kept.keys()
    if earlier:
        columns = [list(c) for c in zip(*sorted(earlier), strict=True)]
        for device_id, metric, key, time, value, flags in cur.execute(STORED_SQL, columns):
            kept[(device_id, metric, key, time)] = (value, tuple(flags or ()))
    out = []
    for reading, message in new:
        stored_value, stored_flags = kept.get(_identity(reading), (reading.value, reading.flags))
        refusal = reused_id(reading, stored_value, stored_flags)
        if refusal is not None:
            out.append(Rejection(message, device_names.get(reading.device_id), refusal.code,
                                 refusal.message, message.payload))
    return out
