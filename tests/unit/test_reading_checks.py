"""The reading checks MQTT and HTTP ingest share: who may send, and which times are usable."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest

from telehub.domain.reading_checks import (
    Sends,
    check_reading_time,
    check_sender,
    parse_reading_time,
)
from telehub.errors import ValidationError

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
WINDOW = {"now": NOW, "future_tolerance_s": 300, "horizon_days": 30}


@dataclass(frozen=True)
class Device:
    active: bool = True
    kind: str | None = "oximeter"
    patient_id: int | None = 42
    patient_status: str | None = "active"


@pytest.mark.parametrize(("device", "sends", "code"), [
    (None, "readings", "unknown-device"),
    (Device(active=False), "readings", "device-inactive"),
    (Device(patient_id=None), "readings", "device-unassigned"),
    (Device(patient_status="discharged"), "readings", "patient-discharged"),
    (Device(), "events", "not-telecare-device"),
    # Before the one check, the readings path let a pendant's "readings" through.
    (Device(kind="pendant"), "readings", "not-a-reading-device"),
    (Device(kind="fall-detector", patient_status="discharged"), "events",
     "patient-discharged"),
])
def test_who_may_not_send(device: Device | None, sends: Sends, code: str) -> None:
    with pytest.raises(ValidationError) as info:
        check_sender(device, "d-1", sends=sends)
    assert info.value.code == code


def test_paused_and_in_hospital_patients_devices_still_send() -> None:
    check_sender(Device(patient_status="paused"), "d-1", sends="readings")
    check_sender(Device(patient_status="in-hospital"), "d-1", sends="readings")
    check_sender(Device(kind="pendant"), "d-1", sends="events")


@pytest.mark.parametrize(("when", "code"), [
    (NOW + timedelta(seconds=301), "time-in-future"),
    (NOW - timedelta(days=30, seconds=1), "time-too-old"),
    (NOW.replace(tzinfo=None), "time-without-zone"),
])
def test_times_outside_the_window_are_refused(when: datetime, code: str) -> None:
    with pytest.raises(ValidationError) as info:
        check_reading_time(when, **WINDOW)
    assert info.value.code == code


def test_times_inside_the_window_come_back_in_utc() -> None:
    edge = (NOW + timedelta(seconds=300)).astimezone(timezone(timedelta(hours=1)))
    assert check_reading_time(edge, **WINDOW).tzinfo is UTC
    assert check_reading_time(NOW - timedelta(days=30), **WINDOW) == NOW - timedelta(days=30)


def test_text_times_get_the_same_checks() -> None:
    assert parse_reading_time("2026-11-22T10:04:59+01:00", **WINDOW).tzinfo is UTC
    for text, code in (("2026-11-22T08:01:00", "time-without-zone"), ("yesterday", "bad-time"),
                       ("9999-12-31T23:59:59-05:00", "bad-time")):
        with pytest.raises(ValidationError) as info:
            parse_reading_time(text, **WINDOW)
        assert info.value.code == code
    with pytest.raises(ValidationError):
        parse_reading_time(1764000000, **WINDOW)
