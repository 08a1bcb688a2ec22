"""What simulated devices put on the wire (DESIGN.md section 4), faults included."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from device_simulators.physiology import Measurement
from telehub.domain.codes import ReadingFlag
from telehub.domain.units import SPECS, Metric, Unit
from telehub.mqtt.topics import ROOT

FIRMWARE = "sim-1.4.2"
# A unit no device should send for each metric (the faulty-device scenario's "wrong unit").
WRONG_UNITS = {Metric.WEIGHT: "mmol/L", Metric.SPO2: "kg", Metric.GLUCOSE: "%"}
# Values outside every plausibility range (the faulty-device scenario's "implausible value").
IMPLAUSIBLE = {Metric.WEIGHT: 612.0, Metric.SPO2: 140.0, Metric.GLUCOSE: 85.0}
DECIMALS = {Unit.KG: 1, Unit.LB: 1, Unit.STONE: 2, Unit.PERCENT: 0, Unit.MMOL_L: 1,
            Unit.MG_DL: 0}


def client_id(device_id: str, topic_root: str = ROOT) -> str:
    """A device's MQTT client id: its device id, as the shipped broker configuration requires
    (a device signs in with its id as both username and client id). Under another topic
    root (tests) it carries that root's tag, so two simulators on one broker never take
    over each other's sessions."""
    if topic_root == ROOT:
        return device_id
    return f"dev-{device_id}-{hashlib.sha1(topic_root.encode()).hexdigest()[:8]}"  # noqa: S324


def iso_utc(t: datetime) -> str:
    """An ISO 8601 UTC time with a Z, to the second."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def reading_id(m: Measurement) -> str:
    """The reading's id: unique per device and stable, so a re-run re-sends the same reading."""
    return f"{m.metric.value}-{int(m.time.timestamp())}"


def in_device_unit(metric: Metric, canonical: float, unit: Unit) -> float:
    """A canonical value as a device showing `unit` reports it."""
    value = canonical / SPECS[metric].factors[unit]
    decimals = DECIMALS[unit]
    return round(value, decimals) if decimals else float(round(value))


def reading_item(m: Measurement, unit: Unit, seq: int, battery: int) -> dict[str, Any]:
    """One native reading (a dict; faulty readings carry the fault, malformed ones are marked)."""
    item: dict[str, Any] = {
        "id": reading_id(m), "seq": seq, "metric": m.metric.value,
        "value": in_device_unit(m.metric, m.value, unit), "unit": unit.value,
        "time": iso_utc(m.time), "battery": battery,
    }
    if m.pulse is not None:
        item["pulse"] = int(m.pulse)
    if m.low_quality:
        item["flags"] = [ReadingFlag.LOW_QUALITY.value]
    if m.fault == "implausible":
        item["value"] = IMPLAUSIBLE[m.metric]
        item["unit"] = SPECS[m.metric].canonical.value
    elif m.fault == "wrong-unit":
        item["unit"] = WRONG_UNITS[m.metric]
    return item


def encode_reading(item: dict[str, Any], fault: str | None = None) -> bytes:
    """One reading as a payload; a malformed one is cut short, as a flaky radio would."""
    data = json.dumps(item, separators=(",", ":")).encode()
    if fault == "malformed":
        return data[: len(data) // 2]
    return data


def encode_batch(items: Sequence[dict[str, Any]]) -> bytes:
    """A store-and-forward batch: {"readings": [...]}."""
    return json.dumps({"readings": list(items)}, separators=(",", ":")).encode()


def event_id(event: str, t: datetime) -> str:
    """A telecare event's id: unique per device and stable, so a re-send is the same event."""
    return f"{event}-{int(t.timestamp())}"


def event_item(event: str, t: datetime) -> dict[str, Any]:
    """A telecare event as the hub takes it on the events topic."""
    return {"id": event_id(event, t), "event": event, "time": iso_utc(t)}


def encode_event(item: dict[str, Any]) -> bytes:
    """One telecare event as a payload (events are never batched)."""
    return json.dumps(item, separators=(",", ":")).encode()


def status_payload(online: bool, battery: int | None = None) -> bytes:
    """The device's retained status (the last will is the offline form)."""
    body: dict[str, Any] = {"status": "online" if online else "offline"}
    if battery is not None:
        body["battery"] = battery
    body["firmware"] = FIRMWARE
    return json.dumps(body, separators=(",", ":")).encode()
