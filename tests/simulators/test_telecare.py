"""Telecare devices in the simulators: the fall of a `fall` scenario, pendant presses, and
events on the events topic of a real Mosquitto (QoS 1, kept on disk until acknowledged)."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from device_simulators.device import SimulatedDevice
from device_simulators.physiology import LONDON, PatientModel
from device_simulators.runner import Simulation, SimulationPlan
from device_simulators.store import ReadingStore
from device_simulators.telecare import DeviceEvent, events_between
from telehub.config import parse_mqtt_url
from telehub.domain.roster import Caseload, DeviceSpec, PatientSpec
from telehub.domain.units import Unit
from tests.simulators.mqtt_helpers import Collector

ANCHOR = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def _patient(key: str, scenario: str = "stable", *, pendant_every: float = 0.0,
             start: float = 0.0, kinds: tuple[str, ...] = ("fall-detector", "pendant", "smoke")
             ) -> PatientSpec:
    devices = (DeviceSpec(f"ox-{key}", "oximeter", Unit.PERCENT),
               *(DeviceSpec(f"{kind[:2]}-{key}", kind, None) for kind in kinds))
    return PatientSpec(key=key, conditions=("copd",), scenario=scenario, devices=devices,
                       schedule={"spo2": {"per_day": 1, "window": "any"}},
                       scenario_start_days=start, pendant_every_days=pendant_every)


def _events(patients: tuple[PatientSpec, ...], seed: int, days: float) -> list[DeviceEvent]:
    models = [PatientModel(p, seed, ANCHOR) for p in patients]
    return list(events_between(models, seed, ANCHOR - timedelta(days=days), ANCHOR))


def test_a_fall_scenario_sends_one_fall_from_the_fall_detector_at_its_start() -> None:
    patients = (_patient("1", "fall", start=-0.1), _patient("2"))
    events = _events(patients, 5, 30)
    assert events == [DeviceEvent(ANCHOR - timedelta(days=0.1), "fa-1", "fall")]


def test_pendant_presses_are_reproducible_from_the_seed_in_waking_hours_and_nothing_false(
        ) -> None:
    patients = (_patient("1", pendant_every=3.0), _patient("2", pendant_every=3.0),
                _patient("3"))
    events = _events(patients, 11, 120)
    assert events == _events(patients, 11, 120)
    assert events != _events(patients, 12, 120)
    assert {e.event for e in events} == {"pendant"}         # no smoke, no fall
    assert {e.device_id for e in events} == {"pe-1", "pe-2"}
    assert 40 <= len(events) <= 120                          # about one in three days each
    assert all(8 <= e.time.astimezone(LONDON).hour < 21 for e in events)
    assert [e.time for e in events] == sorted(e.time for e in events)


def _wait(predicate: object, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_a_telecare_device_publishes_events_qos1_and_keeps_them_while_offline(
        mqtt_url: str, topic_root: str, tmp_path: Path) -> None:
    collector = Collector(mqtt_url, f"{topic_root}/devices/#")
    store = ReadingStore(tmp_path / "state.sqlite")
    spec = DeviceSpec("fd-1", "fall-detector", None)
    device = SimulatedDevice(spec, parse_mqtt_url(mqtt_url), store, topic_root=topic_root)
    fall = DeviceEvent(ANCHOR, "fd-1", "fall")
    device.record_event(fall)                       # offline: kept on disk
    assert store.count() == 1
    device.go_online()
    assert _wait(lambda: device.connected)
    device.pump()
    device.record_event(DeviceEvent(ANCHOR + timedelta(minutes=5), "fd-1", "fall"))
    assert device.wait_acked(10) and store.count() == 0
    assert _wait(lambda: sum(t.endswith("/events") for t, _p, _r in collector.messages) == 2)
    device.close()
    collector.settle(quiet=0.5)
    events = [json.loads(p) for t, p, _r in collector.messages if t.endswith("/events")]
    assert events == [{"id": f"fall-{int(ANCHOR.timestamp())}", "event": "fall",
                       "time": "2026-11-26T09:00:00Z"},
                      {"id": f"fall-{int(ANCHOR.timestamp()) + 300}", "event": "fall",
                       "time": "2026-11-26T09:05:00Z"}]
    assert not any(t.endswith("/readings") for t, _p, _r in collector.messages)
    statuses = [json.loads(p)["status"] for t, p, _r in collector.messages
                if t.endswith("/status")]
    assert statuses == ["online", "offline"]
    collector.close()


def test_a_simulation_sends_the_fall_of_the_live_stretch_but_no_alarm_from_history(
        mqtt_url: str, topic_root: str, tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    caseload = Caseload(seed=3, patients=(
        _patient("1", "fall", start=-0.1),
        _patient("2", "fall", start=-3.0),              # in the backfilled history: not sent
        _patient("3", pendant_every=1.0),               # a press every day
    ))
    plan = SimulationPlan(start=now - timedelta(days=4), fast_until=now - timedelta(hours=6),
                          anchor=now, speed=86400.0, run_for=0.0)
    collector = Collector(mqtt_url, f"{topic_root}/devices/+/events")
    simulation = Simulation(caseload, parse_mqtt_url(mqtt_url), topic_root=topic_root,
                            state_path=tmp_path / "devices.sqlite", plan=plan)
    report = simulation.run(threading.Event())
    collector.settle(quiet=0.5)
    sent = [(t.split("/")[-2], json.loads(p)) for t, p, _r in collector.messages]
    falls = [(device, e["time"]) for device, e in sent if e["event"] == "fall"]
    assert falls == [("fa-1", (now - timedelta(days=0.1)).strftime("%Y-%m-%dT%H:%M:%SZ"))]
    live = plan.fast_until.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert all(e["time"] >= live for _d, e in sent)
    assert {d for d, e in sent if e["event"] == "pendant"} <= {"pe-3"}
    assert report.events == len(sent) and report.left_on_disk == 0
    collector.close()
