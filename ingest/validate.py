"""Validation and normalisation: a decoded reading becomes a NewReading, or a reason it cannot."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from ingest.payloads import DecodedBatch, RawReading, item_bytes
from ingest.rejections import Rejection
from ingest.work_queue import Received
from telehub.config import IngestSettings
from telehub.domain.reading_checks import SPO2_VERIFY_BELOW as SPO2_VERIFY_BELOW
from telehub.domain.reading_checks import check_reading, check_sender, parse_reading_time
from telehub.domain.readings import NewReading
from telehub.errors import ValidationError

# The patient always comes from the device's registration; the reading checks themselves
# live in `telehub.domain.reading_checks`, which the API's FHIR upload shares.


@dataclass(frozen=True)
class DeviceRecord:
    """What ingest needs to know about a registered device and its patient."""

    id: int
    device_id: str
    active: bool
    patient_id: int | None
    patient_status: str | None
    # Every way a payload may name the device's own patient: NHS number, display id, id.
    # Kept out of repr so no log line or traceback can ever show an NHS number.
    patient_refs: frozenset[str] = field(repr=False)
    last_seq: int | None = None
    kind: str | None = None


def check_device(device: DeviceRecord | None, device_id: str) -> DeviceRecord:
    """The device if it may send readings now, else ValidationError with the reason."""
    check_sender(device, device_id, sends="readings")
    assert device is not None
    return device


def validate_reading(raw: RawReading, device: DeviceRecord, *, now: datetime,
                     limits: IngestSettings) -> NewReading:
    """Check and normalise one reading from an acceptable device (see `check_device`)."""
    assert device.patient_id is not None
    return check_reading(raw, patient_id=device.patient_id, device_pk=device.id,
                         patient_refs=device.patient_refs, now=now,
                         future_tolerance_s=limits.future_tolerance_s,
                         horizon_days=limits.horizon_days)


def parse_time(value: object, *, now: datetime, limits: IngestSettings) -> datetime:
    """A timezone-aware UTC time within the ingest window of `limits`."""
    return parse_reading_time(value, now=now, future_tolerance_s=limits.future_tolerance_s,
                              horizon_days=limits.horizon_days)


@dataclass
class ValidatedBatch:
    """The validation stage's result: readings ready to store, and every refusal so far."""

    new: list[tuple[NewReading, Received]] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


def validate_batch(decoded: DecodedBatch, devices: Mapping[str, DeviceRecord], *,
                   now: datetime, limits: IngestSettings) -> ValidatedBatch:
    """Check each decoded message's device, then each of its readings (no database needed)."""
    result = ValidatedBatch(rejections=list(decoded.rejections))
    for item in decoded.readings:
        message, device_id = item.message, item.device_id
        try:
            device = check_device(devices.get(device_id), device_id)
        except ValidationError as err:
            result.rejections.append(Rejection(message, device_id, err.code, err.message,
                                               message.payload))
            continue
        for error in item.content.errors:
            result.rejections.append(Rejection(message, device_id, error.code, error.reason,
                                               item_bytes(error.item), error.index))
        for raw in item.content.readings:
            try:
                result.new.append((validate_reading(raw, device, now=now, limits=limits),
                                   message))
            except ValidationError as err:
                payload = message.payload if raw.index is None else item_bytes(raw.item)
                result.rejections.append(Rejection(message, device_id, err.code, err.message,
                                                   payload, raw.index))
    return result
