"""Reading checks shared by MQTT and HTTP ingest: may this device send, and is the time usable."""

from __future__ import annotations

import math
from collections.abc import Sequence, Set
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from telehub.domain.codes import TELECARE_KINDS, PatientStatus, ReadingFlag
from telehub.domain.readings import NewReading, RawReading
from telehub.domain.units import (
    METER_RANGE,
    SPECS,
    Metric,
    Unit,
    normalise,
    parse_metric,
    parse_unit,
)
from telehub.errors import ValidationError

Sends = Literal["readings", "events"]

# Oximeters' stated accuracy covers 70–100 %; lower readings are kept and marked to verify.
SPO2_VERIFY_BELOW = 70.0


class Sender(Protocol):
    """What the checks need to know about a registered device and its patient."""

    @property
    def active(self) -> bool: ...
    @property
    def kind(self) -> str | None: ...
    @property
    def patient_id(self) -> int | None: ...
    @property
    def patient_status(self) -> str | None: ...


def check_sender(device: Sender | None, device_id: str, *, sends: Sends) -> None:
    """ValidationError with the reason when `device` may not send `sends` now.

    A telecare device (pendant, fall detector…) sends events and a measuring device
    sends readings; neither is stored from the other. A discharged patient's devices
    are no longer monitored; a paused patient's still are.
    """
    if device is None:
        raise ValidationError("unknown-device", f"Device '{device_id}' is not registered.")
    if not device.active:
        raise ValidationError("device-inactive", f"Device '{device_id}' is deactivated.")
    telecare = device.kind in TELECARE_KINDS
    if sends == "events" and not telecare:
        raise ValidationError("not-telecare-device", f"Device '{device_id}' is a "
                              f"{device.kind}, which sends readings, not events.")
    if sends == "readings" and telecare:
        raise ValidationError("not-a-reading-device", f"Device '{device_id}' is a "
                              f"{device.kind}, which sends events, not readings.")
    if device.patient_id is None:
        raise ValidationError("device-unassigned", f"Device '{device_id}' is not linked to a "
                              "patient.")
    if device.patient_status == PatientStatus.DISCHARGED:
        raise ValidationError("patient-discharged", f"The patient of device '{device_id}' has "
                              "been discharged from monitoring.")


def check_reading_time(when: datetime, *, now: datetime, future_tolerance_s: int,
                       horizon_days: int) -> datetime:
    """`when` in UTC if it has a timezone, is not too far in the future and not older than
    the store-and-forward horizon; else ValidationError."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValidationError("time-without-zone", "The time has no timezone; send UTC "
                              "('Z') or an offset.")
    try:
        when = when.astimezone(UTC)
    except OverflowError as err:  # year 1 or 9999 with an offset
        raise ValidationError("bad-time", "The time is outside the calendar.") from err
    if when > now + timedelta(seconds=future_tolerance_s):
        raise ValidationError("time-in-future", f"The time is more than "
                              f"{future_tolerance_s // 60} minutes in the future "
                              "(is the device clock wrong?).")
    if when < now - timedelta(days=horizon_days):
        raise ValidationError("time-too-old", f"The reading is older than the "
                              f"{horizon_days}-day store-and-forward horizon.")
    return when


def parse_reading_time(value: object, *, now: datetime, future_tolerance_s: int,
                       horizon_days: int) -> datetime:
    """An ISO 8601 text time, checked by `check_reading_time`."""
    if not isinstance(value, str):
        raise ValidationError("bad-time", "The time must be ISO 8601 text with a timezone, "
                              "e.g. 2026-11-22T08:01:00Z.")
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError as err:
        raise ValidationError("bad-time", f"'{value[:40]}' is not an ISO 8601 time.") from err
    return check_reading_time(when, now=now, future_tolerance_s=future_tolerance_s,
                              horizon_days=horizon_days)


@dataclass(frozen=True)
class Measured:
    """A reading's value as stored: canonical, as the device sent it, and its range flags."""

    value: float
    raw_value: float
    raw_unit: Unit
    flags: tuple[str, ...]


_RANGE_FLAGS = {"lo": ReadingFlag.LO.value, "hi": ReadingFlag.HI.value}
# A LO must be a severe hypo and a HI a marked hyperglycaemia (mmol/L); anything else
# contradicts its flag and is refused rather than stored as either.
RANGE_FLAG_LIMITS: dict[Metric, tuple[float, float]] = {Metric.GLUCOSE: (3.0, 15.0)}


def measured_value(metric: Metric, value: object, unit: str | None, *,
                   flags: Sequence[str] = (), loinc: str | None = None) -> Measured:
    """Check and convert a reading's value (ValidationError with the reason when unusable).

    A meter's LO / HI (the value "LO" or "HI", or a `lo` / `hi` flag) is stored at the edge
    of the meter's range with its flag, never refused as implausible; only a glucose meter
    reports one. Every way into the hub (MQTT native and FHIR, HTTP) checks values here.
    """
    words = str(value).strip().lower() if isinstance(value, str) else None
    range_flags = {f for f in flags if f in _RANGE_FLAGS.values()}
    if words in _RANGE_FLAGS:
        range_flags.add(_RANGE_FLAGS[words])
    if not range_flags:
        parsed = parse_unit(metric, unit, loinc=loinc)
        canonical = normalise(metric, value, parsed)   # type: ignore[arg-type]
        return Measured(canonical, float(value), parsed, tuple(flags))  # type: ignore[arg-type]
    if metric not in METER_RANGE:
        raise ValidationError("range-flag", f"A {metric.value} reading cannot be LO or HI: "
                              "only a glucose meter reports readings outside its range.")
    if len(range_flags) > 1:
        raise ValidationError("range-flag", "A reading cannot be both LO and HI.")
    flag = range_flags.pop()
    spec = SPECS[metric]
    floor, ceiling = METER_RANGE[metric]
    edge = floor if flag == ReadingFlag.LO.value else ceiling
    if not (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value)):
        parsed = parse_unit(metric, unit, loinc=loinc) if unit or loinc else spec.canonical
        sent = round(edge / spec.factors[parsed], 1)
        return Measured(edge, sent, parsed, tuple(sorted({*flags, flag})))
    # The device sent its own range edge with the flag: kept, unless it contradicts the flag.
    parsed = parse_unit(metric, unit, loinc=loinc)
    canonical = spec.to_canonical(float(value), parsed)
    low, high = RANGE_FLAG_LIMITS[metric]
    if (flag == ReadingFlag.LO.value and not 0 < canonical < low) or (
            flag == ReadingFlag.HI.value and not high < canonical <= spec.plausible_max * 2):
        raise ValidationError("range-flag", f"A {spec.label.lower()} flagged "
                              f"{flag.upper()} cannot read {value:g} {parsed.value}.")
    return Measured(canonical, float(value), parsed, tuple(sorted({*flags, flag})))


def check_reading(raw: RawReading, *, patient_id: int, device_pk: int,
                  patient_refs: Set[str], now: datetime, future_tolerance_s: int,
                  horizon_days: int) -> NewReading:
    """Check and normalise one decoded reading of a device that may send (`check_sender`).

    The patient always comes from the device's registration: a reading that names a patient
    (`patient_refs`: every way the device's own patient may be named) is refused when it
    names someone else. The hub stores what this returns; the API's FHIR upload answers
    with its refusals.
    """
    if raw.patient_ref is not None and raw.patient_ref not in patient_refs:
        raise ValidationError("patient-mismatch", "The payload names a patient other than the "
                              "one this device is registered to.")
    if raw.metric is None:
        raise ValidationError("missing-field", "The reading has no 'metric'.")
    metric = parse_metric(raw.metric)
    measured = measured_value(metric, raw.value, raw.unit, flags=raw.flags, loinc=raw.loinc)
    when = parse_reading_time(raw.time, now=now, future_tolerance_s=future_tolerance_s,
                              horizon_days=horizon_days)
    flags = measured.flags
    if metric is Metric.SPO2 and measured.value < SPO2_VERIFY_BELOW:
        flags = (*flags, ReadingFlag.VERIFY.value)
    return NewReading(
        time=when, patient_id=patient_id, device_id=device_pk, metric=metric,
        value=measured.value, unit=SPECS[metric].canonical, raw_value=measured.raw_value,
        raw_unit=measured.raw_unit, reading_key=raw.reading_id or default_key(when, measured),
        seq=raw.seq, flags=flags,
    )


def default_key(when: datetime, measured: Measured) -> str:
    """The key of a reading its device gave no id: its time and what it measured, as sent.

    A redelivered message carries the same reading, so it stores nothing new; two different
    readings a device stamps with one time (a meter with a minute's resolution, a recheck
    straight after a low) are two readings, both stored and both judged, not one kept and
    the other dropped as a duplicate.
    """
    flags = f" {','.join(measured.flags)}" if measured.flags else ""
    return f"{when.isoformat()} {measured.raw_value!r} {measured.raw_unit.value}{flags}"


def reused_id(new: NewReading, stored_value: float, stored_flags: Sequence[str]
              ) -> ValidationError | None:
    """None when `new` is the very reading already stored under its identity (device, metric,
    id, time): a redelivery, stored once. Otherwise the refusal of a different measurement
    sent under a stored reading's id (a device fault, or a correction, which Telehub does not
    apply to a stored reading): refused where it can be seen, never dropped as a duplicate."""
    if new.value == stored_value and tuple(new.flags) == tuple(stored_flags):
        return None
    spec = SPECS[new.metric]
    return ValidationError(
        "reading-id-reused",
        f"A {spec.label.lower()} reading with id '{new.reading_key[:40]}' at "
        f"{new.time.isoformat()} is already stored with another value "
        f"({stored_value:.{spec.decimals}f} {new.unit.value}{_flag_text(stored_flags)}); this "
        f"one ({new.value:.{spec.decimals}f} {new.unit.value}{_flag_text(new.flags)}) was not "
        "stored. Each measurement needs its own id: a stored reading is never overwritten.")


def _flag_text(flags: Sequence[str]) -> str:
    return f", {'/'.join(f.upper() for f in flags)}" if flags else ""
