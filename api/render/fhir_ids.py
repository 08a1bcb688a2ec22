"""FHIR ids of Telehub records: an Observation's id spells its reading's identity, reversibly.

A reading is identified by (device, metric, reading_key, time), the readings table's unique
key. Its Observation id is `{device_pk}.{metric}.{epoch microseconds of time}.{key hash}`, the
key hash being the first 12 hex digits of sha256(reading_key): the id stays within FHIR's
charset ([A-Za-z0-9.-], at most 64 characters) whatever the device sent as its reading id,
and `GET /fhir/Observation/{id}` finds the row through the readings index on
(device, metric, …, time), the hash telling apart two keys at the same instant. Twelve, not
ten: ten digits standing alone read as an NHS number to anyone scanning a log.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from telehub.domain.record_ids import record_id
from telehub.domain.units import Metric

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
KEY_HASH_LENGTH = 12
# device pk (bigint), metric, epoch microseconds (a year 1970..9999 instant), key hash; no
# leading zeros, so each reading has exactly one id.
_OBSERVATION_ID = re.compile(
    r"([1-9][0-9]{0,18})\.([a-z0-9]{1,16})\.(0|[1-9][0-9]{0,17})\.([0-9a-f]{12})")


@dataclass(frozen=True)
class ObservationKey:
    """What an Observation id names: the reading's device, metric, time and key hash."""

    device_pk: int
    metric: Metric
    time: datetime
    key_hash: str


def key_hash(reading_key: str) -> str:
    """The first `KEY_HASH_LENGTH` hex digits of sha256(reading_key)."""
    return hashlib.sha256(reading_key.encode()).hexdigest()[:KEY_HASH_LENGTH]


def epoch_microseconds(at: datetime) -> int:
    """Whole microseconds since 1970-01-01T00:00Z (exact: no float on the way)."""
    return (at - EPOCH) // _MICROSECOND


def observation_id(row: dict[str, Any]) -> str:
    """The FHIR id of a stored reading (`device_pk`, `metric`, `time`, `reading_key`)."""
    return (f"{row['device_pk']}.{row['metric']}.{epoch_microseconds(row['time'])}."
            f"{key_hash(row['reading_key'])}")


def parse_observation_id(text: str) -> ObservationKey | None:
    """The reading an Observation id names, or None when `text` is no such id."""
    match = _OBSERVATION_ID.fullmatch(text)
    if match is None:
        return None
    device_pk = record_id(match[1])
    try:
        metric = Metric(match[2])
        at = EPOCH + timedelta(microseconds=int(match[3]))
    except (ValueError, OverflowError):
        return None
    if device_pk is None:
        return None
    return ObservationKey(device_pk, metric, at, match[4])
