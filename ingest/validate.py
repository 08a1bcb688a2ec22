"""Validation and normalisation: a decoded reading becomes a NewReading, or a reason it cannot.

The patient always comes from the device's registration. A payload that names a
patient is checked against it and refused when it names someone else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ingest.payloads import RawReading
from telehub.config import IngestSettings
from telehub.domain.codes import ReadingFlag
from telehub.domain.reading_checks import check_sender, parse_reading_time
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
        flags = (*flags, ReadingFlag.VERIFY.value)
    return NewReading(
        time=when, patient_id=device.patient_id, device_id=device.id, metric=metric,
        value=value, unit=SPECS[metric].canonical, raw_value=float(raw.value), raw_unit=unit,
        reading_key=raw.reading_id or when.isoformat(), seq=raw.seq, flags=flags,
    )


def parse_time(value: object, *, now: datetime, limits: IngestSettings) -> datetime:
    """A timezone-aware UTC time within the ingest window of `limits`."""
    return parse_reading_time(value, now=now, future_tolerance_s=limits.future_tolerance_s,
                              horizon_days=limits.horizon_days)
