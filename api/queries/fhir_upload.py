"""Read SQL of the FHIR upload: the registered devices a Bundle names, and the readings its
Observations would store (already there: answered as existing; newly there: stored)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from api.deps import DbConn
from telehub.domain.readings import NewReading

# Every device registered under one of the names (device id or serial) a Bundle uses.
NAMED_DEVICES_SQL = """
SELECT device_id, serial FROM devices WHERE device_id = ANY(%(names)s) OR serial = ANY(%(names)s)
"""

# The device's readings with the given (metric, reading_key): the leading columns of the
# readings_identity unique index, so each pair is one index probe.
READINGS_SQL = """
SELECT r.device_id AS device_pk, r.metric::text AS metric, r.reading_key, r.time, r.value,
       r.flags
  FROM unnest(%(metrics)s::metric[], %(keys)s::text[]) AS k(metric, reading_key)
  JOIN readings r ON r.device_id = %(device)s AND r.metric = k.metric
                 AND r.reading_key = k.reading_key
"""


def registered_names(conn: DbConn, names: Iterable[str]) -> dict[str, str]:
    """Each of `names` that is a registered device's id or serial -> that device's id."""
    wanted = sorted(set(names))
    if not wanted:
        return {}
    found: dict[str, str] = {}
    for row in conn.execute(NAMED_DEVICES_SQL, {"names": wanted}):
        found[row["device_id"]] = row["device_id"]
        if row["serial"] in wanted:
            found[row["serial"]] = row["device_id"]
    return found


def readings_with_keys(conn: DbConn, device_pk: int, readings: Sequence[NewReading]
                       ) -> list[dict[str, Any]]:
    """The device's stored readings sharing a (metric, reading_key) with `readings`."""
    pairs = sorted({(r.metric.value, r.reading_key) for r in readings})
    if not pairs:
        return []
    return conn.execute(READINGS_SQL, {"device": device_pk, "metrics": [p[0] for p in pairs],
                                       "keys": [p[1] for p in pairs]}).fetchall()
