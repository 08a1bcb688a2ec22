"""Simulated devices on a real Mosquitto: payloads, status with last will, store-and-forward."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from device_simulators.device import SimulatedDevice
from device_simulators.physiology import Measurement
from device_simulators.store import ReadingStore
from telehub.config import parse_mqtt_url
from telehub.demo.embedded import mosquitto_binary, start_mosquitto, stop_process
from telehub.domain.roster import DeviceSpec
from telehub.domain.units import Metric, Unit
from tests.simulators.mqtt_helpers import Collector

T0 = datetime(2026, 11, 20, 7, 30, tzinfo=UTC)


def _weight(i: int, **kw: object) -> Measurement:
    return Measurement(T0 + timedelta(hours=i), "sc-1", Metric.WEIGHT, 80.0 + i / 100,
                       **kw)  # type: ignore[arg-type]


def _wait(predicate: object, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_a_device_publishes_readings_status_and_seq(mqtt_url: str, topic_root: str,
                                                    tmp_path: Path) -> None:
    collector = Collector(mqtt_url, f"{topic_root}/devices/#")
    store = ReadingStore(tmp_path / "state.sqlite")
    device = SimulatedDevice(DeviceSpec("sc-1", "scale", Unit.LB), parse_mqtt_url(mqtt_url),
                             store, topic_root=topic_root)
    device.go_online()
    assert _wait(lambda: device.connected)
    device.pump()
    for i in range(5):
        device.record(_weight(i))
    assert device.wait_acked(10)
    readings = collector.wait_for(5)
    assert [r["seq"] for r in readings] == [1, 2, 3, 4, 5]
    assert readings[0]["unit"] == "lb" and readings[0]["value"] == pytest.approx(176.4, abs=0.05)
    assert readings[0]["time"] == "2026-11-20T07:30:00Z" and readings[0]["metric"] == "weight"
    assert len({r["id"] for r in readings}) == 5
    assert readings[-1]["battery"] < 100
    assert store.count() == 0
    device.close()
    statuses = [json.loads(p)["status"] for t, p, _r in collector.messages
                if t.endswith("/status")]
    assert statuses == ["online", "offline"]
    # seq and battery survive a restart of the simulator.
    again = SimulatedDevice(DeviceSpec("sc-1", "scale", Unit.LB), parse_mqtt_url(mqtt_url),
                            store, topic_root=topic_root)
    assert again.seq == 5 and again.battery == device.battery
    collector.close()


def test_an_offline_device_keeps_readings_and_sends_one_batch(mqtt_url: str, topic_root: str,
                                                              tmp_path: Path) -> None:
    collector = Collector(mqtt_url, f"{topic_root}/devices/+/readings")
    store = ReadingStore(tmp_path / "state.sqlite")
    device = SimulatedDevice(DeviceSpec("sc-1", "scale", Unit.KG), parse_mqtt_url(mqtt_url),
                             store, topic_root=topic_root)
    device.go_online()
    assert _wait(lambda: device.connected)
    device.record(_weight(0))
    device.go_offline()
    for i in range(1, 8):
        device.record(_weight(i, offline=True))
    device.record(_weight(8, fault="malformed"))
    assert store.count() == 8
    device.go_online()
    assert _wait(lambda: device.connected)
    device.pump()
    assert device.wait_acked(10)
    collector.wait_for(8)
    batches = collector.batches()
    assert len(batches) == 1 and [r["seq"] for r in batches[0]] == list(range(2, 9))
    # The malformed reading went alone, so it cannot spoil the batch.
    assert sum(1 for t, p, _r in collector.messages if not p.endswith(b"}")) == 1
    assert store.count() == 0
    device.close()
    collector.close()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[dict[str, object]]:
    """A Mosquitto of this test's own, so the test can stop and restart it."""
    if mosquitto_binary() is None:
        pytest.skip("needs a mosquitto binary (CI has it)")
    proc, port = start_mosquitto(tmp_path / "broker")
    state = {"proc": proc, "port": port, "dir": tmp_path / "broker"}
    yield state
    stop_process(state["proc"])  # type: ignore[arg-type]


@pytest.mark.needs_mosquitto
def test_store_and_forward_survives_a_broker_restart_with_no_reading_lost(
        own_broker: dict[str, object], tmp_path: Path) -> None:
    url = f"mqtt://127.0.0.1:{own_broker['port']}"
    root = "test/restart/telehub/v1"
    collector = Collector(url, f"{root}/devices/+/readings")
    store = ReadingStore(tmp_path / "state.sqlite")
    device = SimulatedDevice(DeviceSpec("sc-1", "scale", Unit.KG), parse_mqtt_url(url), store,
                             topic_root=root)
    device.go_online()
    assert _wait(lambda: device.connected)
    device.pump()

    stop = threading.Event()
    recorded = []

    def measure() -> None:   # a reading every 10 ms, whatever the broker is doing
        i = 0
        while not stop.is_set():
            device.record(_weight(i))
            device.pump()
            recorded.append(i)
            i += 1
            time.sleep(0.01)

    worker = threading.Thread(target=measure)
    worker.start()
    time.sleep(0.5)
    stop_process(own_broker["proc"])  # type: ignore[arg-type]
    time.sleep(1.0)
    proc, _port = start_mosquitto(own_broker["dir"], port=int(own_broker["port"]))  # type: ignore[arg-type]
    own_broker["proc"] = proc
    assert _wait(lambda: device.connected, timeout=40)
    time.sleep(0.5)
    stop.set()
    worker.join()
    device.pump()
    assert device.wait_acked(20)
    device.close()
    assert store.count() == 0
    received = collector.wait_for(len(recorded), timeout=30)
    ids = {r["id"] for r in received}
    assert len(ids) == len(recorded)
    assert collector.batches(), "readings taken during the outage arrive as a batch"
    collector.close()


def test_a_caseload_of_hundreds_of_devices_runs_on_one_network_thread(
        mqtt_url: str, topic_root: str, tmp_path: Path) -> None:
    """paho's own loop uses select(), which hangs past 1,024 descriptors; ours does not."""
    from device_simulators.runner import Simulation, SimulationPlan
    from telehub.domain.roster import Caseload, PatientSpec

    patients = tuple(
        PatientSpec(key=str(i), conditions=("heart-failure",), scenario="stable",
                    devices=(DeviceSpec(f"sc-{i:04d}", "scale", Unit.KG),),
                    baseline={"weight": 70.0},
                    schedule={"weight": {"per_day": 1, "window": "morning"}}, adherence=1.0)
        for i in range(600))
    plan = SimulationPlan.ending_now(backfill=timedelta(days=2), window=timedelta(0),
                                     speed=1.0, run_for=0.0)
    collector = Collector(mqtt_url, f"{topic_root}/devices/+/readings")
    simulation = Simulation(Caseload(seed=1, patients=patients), parse_mqtt_url(mqtt_url),
                            topic_root=topic_root, state_path=tmp_path / "s.sqlite", plan=plan)
    started = time.monotonic()
    report = simulation.run(threading.Event())
    assert time.monotonic() - started < 60
    assert report.recorded >= 600 and report.acknowledged == report.recorded
    assert report.left_on_disk == 0
    assert len(collector.settle()) == report.recorded
    collector.close()


@pytest.mark.needs_mosquitto
def test_devices_sign_in_with_their_own_credentials_and_a_refusal_stops_them(
        tmp_path: Path) -> None:
    import subprocess

    if mosquitto_binary() is None:
        pytest.skip("needs a mosquitto binary (CI has it)")
    passwords = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), "sc-1", "right-pass-1"],
                   check=True, capture_output=True)
    passwords.chmod(0o600)
    proc, port = start_mosquitto(tmp_path / "broker", extra_conf=(
        f"allow_anonymous false\npassword_file {passwords}\n"))
    try:
        url = f"mqtt://127.0.0.1:{port}"
        store = ReadingStore(tmp_path / "s.sqlite")
        good = SimulatedDevice(DeviceSpec("sc-1", "scale", Unit.KG), parse_mqtt_url(url), store,
                               topic_root="t/telehub/v1", password="right-pass-1")
        bad = SimulatedDevice(DeviceSpec("sc-2", "scale", Unit.KG), parse_mqtt_url(url), store,
                              topic_root="t/telehub/v1", password="wrong-pass-2")
        good.go_online()
        bad.go_online()
        assert _wait(lambda: good.connected and bad.refused)
        good.pump()
        good.record(_weight(0))
        assert good.wait_acked(10)
        bad.record(_weight(1))
        time.sleep(1.5)
        assert not bad.connected and store.count("sc-2") == 1   # kept, never dropped
        good.close()
        bad.close(timeout=1)
    finally:
        stop_process(proc)
