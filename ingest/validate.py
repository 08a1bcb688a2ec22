"""Validation and normalisation: a decoded reading becomes a NewReading, or a reason it cannot.

The patient always comes from the device's registration. A payload that names a
patient is checked against it and refused when it names someone else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ingest.payloads import RawReading
from telehub.config import IngestSettings
from telehub.domain.readings import NewReading
from telehub.domain.units import SPECS, Metric, normalise, parse_metric, parse_unit
from telehub.errors import ValidationError

# Oximeters' stated accuracy covers 70–100 %; lower readings are kept and marked to verify.
SPO2_VERIFY_BELOW = 70.0


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


def check_device(device: DeviceRecord | None, device_id: str) -> DeviceRecord:
    """The device if it may send readings now, else ValidationError with the reason."""
    if device is None:
        raise ValidationError("unknown-device", f"Device '{device_id}' is not registered.")
    if not device.active:
        raise ValidationError("device-inactive", f"Device '{device_id}' is deactivated.")
    if device.patient_id is None:
        raise ValidationError("device-unassigned", f"Device '{device_id}' is not linked to a "
                              "patient.")
    if device.patient_status == "discharged":
        raise ValidationError("patient-discharged", f"The patient of device '{device_id}' has "
                              "been discharged from monitoring.")
    return device


def validate_reading(raw: RawReading, device: DeviceRecord, *, now: datetime,
                     limits: IngestSettings) -> NewReading:
    """Check and normalise one reading from an acceptable device (see `check_device`)."""
    assert device.patient_id is not None
    if raw.patient_ref is not None and raw.patient_ref not in device.patient_refs:
        raise ValidationError("patient-mismatch", "The payload names a patient other than the "
                              "one this device is registered to.")
    if raw.metric is None:
        raise ValidationError("missing-field", "The reading has no 'metric'.")
    metric = parse_metric(raw.metric)
    unit = parse_unit(metric, raw.unit)
    value = normalise(metric, raw.value, unit)
    when = parse_time(raw.time, now=now, limits=limits)
    flags = raw.flags
    if metric is Metric.SPO2 and value < SPO2_VERIFY_BELOW:
        flags = (*flags, "verify")
    return NewReading(
        time=when, patient_id=device.patient_id, device_id=device.id, metric=metric,
        value=value, unit=SPECS[metric].canonical, raw_value=float(raw.value), raw_unit=unit,
        reading_key=raw.reading_id or when.isoformat(), seq=raw.seq, flags=flags,
    )


def parse_time(value: object, *, now: datetime, limits: IngestSettings) -> datetime:
    """A timezone-aware UTC time, not too far in the future, not older than the horizon."""
    if not isinstance(value, str):
        raise ValidationError("bad-time", "The time must be ISO 8601 text with a timezone, "
                              "e.g. 2026-11-22T08:01:00Z.")
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError as err:
        raise ValidationError("bad-time", f"'{value[:40]}' is not an ISO 8601 time.") from err
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValidationError("time-without-zone", "The time has no timezone; send UTC "
                              "('Z') or an offset.")
    try:
        when = when.astimezone(UTC)
    except OverflowError as err:  # year 1 or 9999 with an offset
        raise ValidationError("bad-time", f"'{value[:40]}' is outside the calendar.") from err
    if when > now + timedelta(seconds=limits.future_tolerance_s):
        raise ValidationError("time-in-future", f"The time is more than "
                              f"{limits.future_tolerance_s // 60} minutes in the future "
                              "(is the device clock wrong?).")
    if when < now - timedelta(days=limits.horizon_days):
        raise ValidationError("time-too-old", f"The reading is older than the "
                              f"{limits.horizon_days}-day store-and-forward horizon.")
    return when

