"""Decoding readings (native JSON, store-and-forward batches, FHIR Observations and Bundles)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ingest.rejections import Rejection
from ingest.status import DeviceStatus, decode_status
from ingest.work_queue import ReadingsWork, Received, StatusWork
from telehub.domain.codes import DEVICE_FLAGS, ReadingFlag
from telehub.domain.fhir_observations import READING_ID_MAX as READING_ID_MAX
from telehub.domain.fhir_observations import decode_fhir as decode_fhir
from telehub.domain.fhir_observations import decode_fhir_readings
from telehub.domain.fhir_observations import number as _number
from telehub.domain.fhir_observations import patient_ref as _patient_ref
from telehub.domain.fhir_observations import reading_id as _reading_id
from telehub.domain.readings import RawReading
from telehub.domain.units import Metric
from telehub.errors import ValidationError

# Decoding only checks the shape of a message and pulls out its fields; whether a
# metric, unit, value or time is acceptable is decided in `ingest.validate`.
# Sizes are checked before anything is parsed.

# A single reading or FHIR Observation is a few hundred bytes; anything past this
# is not a reading however it parses (batches have their own, larger limit).
SINGLE_MAX_BYTES = 64 * 1024
# FHIR Observations are decoded by `telehub.domain.fhir_observations`, which the API's
# FHIR upload shares; an Observation may carry more than one reading (SpO2 and pulse).


@dataclass(frozen=True)
class ItemError:
    """A batch item whose shape is wrong; the rest of the batch goes on."""

    index: int
    code: str
    reason: str
    item: Any


@dataclass(frozen=True)
class Decoded:
    """Everything one message carried."""

    readings: list[RawReading]
    errors: list[ItemError] = field(default_factory=list)
    battery: int | None = None


def decode_payload(payload: bytes, *, max_bytes: int, max_batch: int) -> Decoded:
    """Decode a readings message; ValidationError when the message as a whole is unusable."""
    size = len(payload)
    if size == 0 or not payload.strip():
        raise ValidationError("empty-payload", "The message is empty.")
    if size > max_bytes:
        raise ValidationError("too-large", f"The message is {size:,} bytes; the limit is "
                              f"{max_bytes:,}.")
    document = _parse_json(payload)
    if not isinstance(document, dict):
        raise ValidationError("not-an-object", "The message is JSON but not an object.")
    if "readings" in document:
        return _decode_batch(document["readings"], document, max_batch)
    if document.get("resourceType") == "Bundle":
        return _decode_batch(_bundle_resources(document), {}, max_batch)
    if size > SINGLE_MAX_BYTES:
        raise ValidationError("too-large", f"A single reading of {size:,} bytes is over the "
                              f"{SINGLE_MAX_BYTES:,}-byte limit for one reading.")
    if "resourceType" in document:
        return Decoded(decode_fhir_readings(document), battery=None)
    return Decoded(native_readings(document, None), battery=_battery(document.get("battery")))


def _parse_json(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise ValidationError("not-json", "The message is not valid UTF-8 JSON.") from err


def _bundle_resources(bundle: Mapping[str, Any]) -> Any:
    """The resources of a FHIR Bundle's entries (each checked as a batch item)."""
    entries = bundle.get("entry")
    if not isinstance(entries, list):
        return entries
    return [e.get("resource") if isinstance(e, dict) else e for e in entries]


def _decode_batch(items: Any, document: Mapping[str, Any], max_batch: int) -> Decoded:
    """A list of readings (native or FHIR); `document` may carry a battery and a patient."""
    if not isinstance(items, list):
        raise ValidationError("not-a-batch", "A batch must hold a list of readings "
                              "('readings', or a FHIR Bundle's 'entry').")
    if not items:
        raise ValidationError("empty-batch", "The batch holds no readings.")
    if len(items) > max_batch:
        raise ValidationError("batch-too-large", f"The batch holds {len(items):,} readings; "
                              f"the limit is {max_batch:,}.")
    shared_patient = _patient_ref(document.get("patient"))
    readings: list[RawReading] = []
    errors: list[ItemError] = []
    battery = _battery(document.get("battery"))
    battery_seq = -1
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            errors.append(ItemError(index, "not-an-object", f"Batch item {index} is not a JSON "
                                    "object.", item))
            continue
        try:
            if item.get("resourceType") is not None:
                readings.extend(decode_fhir_readings(item, index))
            else:
                readings.extend(native_readings(item, index, shared_patient))
        except ValidationError as err:
            errors.append(ItemError(index, err.code, err.message, item))
        # Items arrive in any order: the battery is that of the newest item reporting one
        # (highest seq; without seqs, the last).
        item_battery, order = _battery(item.get("battery")), _seq(item.get("seq"))
        order = index if order is None else order
        if item_battery is not None and order >= battery_seq:
            battery, battery_seq = item_battery, order
    return Decoded(readings, errors, battery=battery)


def native_readings(item: Mapping[str, Any], index: int | None,
                    shared_patient: str | None = None) -> list[RawReading]:
    """The reading in a native JSON object, plus a pulse reading when an SpO2 carries one."""
    for name in ("metric", "value", "time"):
        if item.get(name) is None:
            raise ValidationError("missing-field", f"The reading has no '{name}'.")
    unit = item.get("unit")
    reading = RawReading(
        index=index,
        metric=str(item["metric"]),
        value=_number(item["value"]),
        unit=None if unit is None else str(unit),
        time=item["time"],
        reading_id=_reading_id(item.get("id")),
        seq=_seq(item.get("seq")),
        patient_ref=_patient_ref(item.get("patient")) or shared_patient,
        flags=_flags(item),
        item=item,
    )
    out = [reading]
    if item.get("pulse") is not None and str(item["metric"]).strip().lower() == Metric.SPO2:
        out.append(RawReading(
            index=index, metric=Metric.PULSE.value, value=_number(item["pulse"]),
            unit=item.get("pulse_unit") or "/min", time=reading.time,
            reading_id=reading.reading_id, seq=None, patient_ref=reading.patient_ref,
            flags=reading.flags, item=reading.item,
        ))
    return out


def _seq(value: Any) -> int | None:
    """A device's message counter; a malformed one is ignored (it is optional)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63:
        return value
    return None


def _battery(value: Any) -> int | None:
    """Battery percentage 0–100; anything else is ignored (it is optional)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 100:
        return round(value)
    return None


def _flags(item: Mapping[str, Any]) -> tuple[str, ...]:
    flags: set[str] = set()
    raw = item.get("flags")
    if isinstance(raw, list):
        flags.update(str(f).lower() for f in raw if str(f).lower() in DEVICE_FLAGS)
    if str(item.get("quality", "")).lower() in ("low", "poor", "invalid"):
        flags.add(ReadingFlag.LOW_QUALITY.value)
    return tuple(sorted(flags))


def item_bytes(item: Any) -> bytes:
    """An item's JSON, for the record of a refused reading."""
    try:
        return json.dumps(item, separators=(",", ":"), allow_nan=True).encode()
    except (TypeError, ValueError):
        return b""


@dataclass(frozen=True)
class DecodedReadings:
    """A readings message whose payload decoded, with the device its topic names."""

    message: Received
    device_id: str
    content: Decoded


@dataclass(frozen=True)
class DecodedStatus:
    """A status message; `status` is None when it said nothing to record."""

    message: Received
    device_id: str
    status: DeviceStatus | None


@dataclass
class DecodedBatch:
    """The decoding stage's result for a batch: what decoded, and what was refused."""

    readings: list[DecodedReadings] = field(default_factory=list)
    statuses: list[DecodedStatus] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    def device_ids(self) -> set[str]:
        """Every device id the batch's topics name."""
        return ({r.device_id for r in self.rejections if r.device_id}
                | {r.device_id for r in self.readings}
                | {s.device_id for s in self.statuses})


def decode_batch(work: Sequence[ReadingsWork | StatusWork], *, max_bytes: int,
                 max_batch: int) -> DecodedBatch:
    """Decode a batch's readings and status messages (no database needed)."""
    batch = DecodedBatch()
    for item in work:
        message = item.message
        if isinstance(item, StatusWork):
            batch.statuses.append(DecodedStatus(message, item.device_id,
                                                decode_status(message.payload)))
            continue
        if item.device_id is None:
            batch.rejections.append(Rejection(message, None, "bad-topic", "The topic is not a "
                                              "device readings or status topic.",
                                              message.payload))
            continue
        try:
            content = decode_payload(message.payload, max_bytes=max_bytes, max_batch=max_batch)
        except ValidationError as err:
            batch.rejections.append(Rejection(message, item.device_id, err.code, err.message,
                                              message.payload))
            continue
        batch.readings.append(DecodedReadings(message, item.device_id, content))
    return batch
