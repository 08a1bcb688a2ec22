"""Store-and-forward backlogs through the real broker and hub: a reading that arrives after
newer ones completes the patterns it belongs to on the newer reading, and never reopens,
clears or renames what a newer reading raised. Run at several hours of the London day,
including both clock-change days, under the service clock."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Any

import pytest

from alerts.lifecycle import Actor, resolve
from telehub.config import Settings
from telehub.domain import clock
from telehub.domain.units import Metric
from tests.alerts.conftest import Clinic
from tests.alerts.test_scenarios import Device, _reading, hub  # noqa: F401 (fixture)
from tests.clock_anchors import ANCHORS, LONDON, anchor_id

COMMITS = True


@pytest.fixture(params=ANCHORS, ids=anchor_id)
def anchor(request: pytest.FixtureRequest) -> Iterator[datetime]:
    at = request.param.astimezone(UTC)
    with clock.use_clock(clock.FixedClock(at)):
        yield at


def _morning(anchor: datetime, days_ago: int) -> datetime:
    day: date = anchor.astimezone(LONDON).date() - timedelta(days=days_ago)
    return datetime.combine(day, clock_time(7, 30), tzinfo=LONDON).astimezone(UTC)


def _wait_readings(clinic: Clinic, pid: int, n: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        clinic.conn.commit()
        row = clinic.conn.execute("SELECT count(*) AS n FROM readings WHERE patient_id = %s",
                                  (pid,)).fetchone()
        assert row is not None
        if row["n"] >= n:
            time.sleep(0.2)     # the batch's alerts are written in the same transaction
            clinic.conn.commit()
            return
        time.sleep(0.05)
    raise AssertionError(f"patient {pid}: fewer than {n} readings stored")


def _send(device: Device, name: str, readings: list[dict[str, Any]]) -> None:
    device.send(name, readings)


def test_a_backlog_completes_a_weight_gain_named_on_todays_weight(
        clinic: Clinic, hub: Settings, anchor: datetime) -> None:  # noqa: F811
    heart = clinic.patient(["heart-failure"])
    name = clinic.device_name(heart, Metric.WEIGHT)
    clinic.conn.commit()
    today = anchor - timedelta(minutes=10)
    device = Device(hub)
    try:
        _send(device, name, [_reading("today", "weight", 82.1, "kg", today)])
        _wait_readings(clinic, heart, 1)
        assert clinic.alert(heart, "weight-gain") is None
        backlog = [_reading(f"d{k}", "weight", v, "kg", _morning(anchor, k))
                   for k, v in ((3, 80.0), (2, 80.3), (1, 80.5))]
        _send(device, name, backlog)
        _wait_readings(clinic, heart, 4)
    finally:
        device.close()
    gain = clinic.alert(heart, "weight-gain")
    assert gain is not None, "a 2.1 kg gain completed by a backlog raised nothing"
    assert gain["severity"] == "amber" and not gain["late"]
    assert "82.1 kg" in gain["message"] and not gain["message"].startswith("Late reading")
    assert gain["last_breach_at"] == today


def test_a_late_hypo_from_yesterday_makes_todays_hypo_repeated(
        clinic: Clinic, hub: Settings, anchor: datetime) -> None:  # noqa: F811
    diabetic = clinic.patient(["type2-diabetes"])
    name = clinic.device_name(diabetic, Metric.GLUCOSE)
    clinic.conn.commit()
    today = anchor - timedelta(minutes=10)
    device = Device(hub)
    try:
        _send(device, name, [_reading("today", "glucose", 3.6, "mmol/L", today)])
        _wait_readings(clinic, diabetic, 1)
        low = clinic.alert(diabetic, "glucose-low")
        night = today.astimezone(LONDON).hour < 6     # a night hypo is raised one level
        assert low is not None and low["severity"] == ("red" if night else "amber")
        first_message = low["message"]
        _send(device, name, [_reading("yesterday", "glucose", 3.5, "mmol/L",
                                      today - timedelta(days=1))])
        _wait_readings(clinic, diabetic, 2)
    finally:
        device.close()
    repeated = clinic.alert(diabetic, "glucose-hypo-repeated")
    assert repeated is not None, "two hypos on different days raised no repeated-hypo alert"
    assert repeated["severity"] == "amber" and not repeated["late"]
    low = clinic.alert(diabetic, "glucose-low")
    assert low is not None and low["message"] == first_message   # still names today's 3.6
    assert low["values"]["latest"]["value"] == 3.6 and not low["late"]


def test_a_backlog_in_range_neither_clears_nor_reopens_what_newer_readings_raised(
        clinic: Clinic, hub: Settings, anchor: datetime) -> None:  # noqa: F811
    diabetic, copd = clinic.patient(["type2-diabetes"]), clinic.patient(["copd"])
    meter, oximeter = (clinic.device_name(diabetic, Metric.GLUCOSE),
                       clinic.device_name(copd, Metric.SPO2))
    clinic.conn.commit()
    today = anchor - timedelta(minutes=10)
    device = Device(hub)
    try:
        _send(device, meter, [_reading("today", "glucose", 3.6, "mmol/L", today)])
        _send(device, oximeter, [_reading("today", "spo2", 89, "%", today)])
        _wait_readings(clinic, diabetic, 1)
        _wait_readings(clinic, copd, 1)
        red = clinic.alert(copd, "spo2-low")   # 89 % is red at any hour
        assert red is not None and red["severity"] == "red"
        # The nurse reviewed the patient and closed the red alert.
        resolve(clinic.conn, red["id"], Actor(None, "matron.jones"), "advice-given")
        clinic.conn.commit()
        yesterday = today - timedelta(days=1)
        _send(device, meter, [_reading("y", "glucose", 6.2, "mmol/L", yesterday)])
        _send(device, oximeter, [_reading(f"y{k}", "spo2", 96, "%", yesterday + k * timedelta(
            hours=1)) for k in range(3)])
        _wait_readings(clinic, diabetic, 2)
        _wait_readings(clinic, copd, 4)
    finally:
        device.close()
    low = clinic.alert(diabetic, "glucose-low")
    assert low is not None and low["condition_cleared_at"] is None
    assert low["status"] == "open" and "3.6" in low["message"]
    assert [a["status"] for a in clinic.alerts(copd)] == ["resolved"]   # not raised again
