"""What devices send: units as the device shows them, faults the hub must refuse, status."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from device_simulators.payloads import (
    client_id,
    encode_batch,
    encode_reading,
    reading_item,
    status_payload,
)
from device_simulators.physiology import Measurement
from telehub.domain.units import Metric, Unit, normalise, parse_unit
from telehub.errors import ValidationError

T = datetime(2026, 11, 22, 8, 1, tzinfo=UTC)


@pytest.mark.parametrize(("metric", "value", "unit"), [
    (Metric.WEIGHT, 82.4, Unit.KG), (Metric.WEIGHT, 82.4, Unit.LB),
    (Metric.WEIGHT, 82.4, Unit.STONE), (Metric.GLUCOSE, 6.2, Unit.MMOL_L),
    (Metric.GLUCOSE, 6.2, Unit.MG_DL), (Metric.SPO2, 94.0, Unit.PERCENT),
])
def test_a_reading_in_the_device_unit_comes_back_to_the_same_canonical_value(
        metric: Metric, value: float, unit: Unit) -> None:
    item = reading_item(Measurement(T, "d-1", metric, value), unit, seq=3, battery=80)
    back = normalise(metric, item["value"], parse_unit(metric, item["unit"]))
    assert back == pytest.approx(value, abs=0.1)
    assert item["time"] == "2026-11-22T08:01:00Z" and item["seq"] == 3
    assert item["battery"] == 80 and item["id"] == f"{metric.value}-{int(T.timestamp())}"


def test_an_oximeter_reading_carries_its_pulse_and_its_quality_flag() -> None:
    item = reading_item(Measurement(T, "ox-1", Metric.SPO2, 91.0, pulse=104.0, low_quality=True),
                        Unit.PERCENT, seq=1, battery=50)
    assert item["pulse"] == 104 and item["flags"] == ["low-quality"]


@pytest.mark.parametrize("metric", [Metric.WEIGHT, Metric.SPO2, Metric.GLUCOSE])
def test_faulty_devices_send_what_the_hub_must_refuse(metric: Metric) -> None:
    good = {Metric.WEIGHT: 80.0, Metric.SPO2: 95.0, Metric.GLUCOSE: 6.0}[metric]
    unit = {Metric.WEIGHT: Unit.KG, Metric.SPO2: Unit.PERCENT, Metric.GLUCOSE: Unit.MMOL_L}
    implausible = reading_item(Measurement(T, "d", metric, good, fault="implausible"),
                               unit[metric], 1, 90)
    with pytest.raises(ValidationError) as err:
        normalise(metric, implausible["value"], parse_unit(metric, implausible["unit"]))
    assert err.value.code == "implausible-value"
    wrong = reading_item(Measurement(T, "d", metric, good, fault="wrong-unit"), unit[metric], 1, 90)
    with pytest.raises(ValidationError) as err:
        parse_unit(metric, wrong["unit"])
    assert err.value.code == "wrong-unit"
    with pytest.raises(ValueError):
        json.loads(encode_reading(wrong, "malformed"))


def test_batches_and_status_are_json() -> None:
    items = [reading_item(Measurement(T, "d", Metric.WEIGHT, 80.0 + i), Unit.KG, i, 90)
             for i in range(3)]
    assert json.loads(encode_batch(items)) == {"readings": items}
    assert json.loads(status_payload(True, 77)) == {"status": "online", "battery": 77,
                                                    "firmware": "sim-1.4.2"}
    assert json.loads(status_payload(False))["status"] == "offline"


def test_client_ids_are_the_device_ids_except_under_another_topic_root() -> None:
    assert client_id("sc-0001") == "sc-0001"
    other = client_id("sc-0001", "test/abc/telehub/v1")
    assert other.startswith("dev-sc-0001-") and other != client_id("sc-0001", "test/xyz")
