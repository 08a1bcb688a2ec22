"""MQTT topics: the only module that builds or parses them (DESIGN.md section 4)."""

from __future__ import annotations

import re

ROOT = "telehub/v1"
SHARE_GROUP = "telehub-ingest"
DEVICE_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{1,63}")


def readings_topic(device_id: str, prefix: str = ROOT) -> str:
    """Where a device publishes its readings."""
    return f"{prefix}/devices/{device_id}/readings"


def status_topic(device_id: str, prefix: str = ROOT) -> str:
    """Where a device (or the hub) publishes its retained online status."""
    return f"{prefix}/devices/{device_id}/status"


def events_topic(device_id: str, prefix: str = ROOT) -> str:
    """Where a telecare device publishes events (fall, pendant, smoke…)."""
    return f"{prefix}/devices/{device_id}/events"


def alert_topic(team: str, severity: str, prefix: str = ROOT) -> str:
    """Where alerts for a team are published, one subtopic per severity."""
    return f"{prefix}/alerts/{team}/{severity}"


def hub_status_topic(client_id: str, prefix: str = ROOT) -> str:
    """The hub worker's own retained status (with its last will)."""
    return f"{prefix}/hub/{client_id}/status"


def readings_subscription(prefix: str = ROOT, *, shared: bool = False) -> str:
    """The hub's subscription to every device's readings (shared when several hubs run)."""
    topic = f"{prefix}/devices/+/readings"
    return f"$share/{SHARE_GROUP}/{topic}" if shared else topic


def events_subscription(prefix: str = ROOT, *, shared: bool = False) -> str:
    """The hub's subscription to every telecare device's events (shared like readings)."""
    topic = f"{prefix}/devices/+/events"
    return f"$share/{SHARE_GROUP}/{topic}" if shared else topic


def status_subscription(prefix: str = ROOT) -> str:
    """The hub's subscription to every device's status."""
    return f"{prefix}/devices/+/status"


def parse_device_topic(topic: str, prefix: str = ROOT) -> tuple[str, str] | None:
    """(device id, kind) for a device topic under `prefix`, e.g. ("ox-1", "readings"); else None."""
    head = f"{prefix}/devices/"
    if not topic.startswith(head):
        return None
    rest = topic[len(head):].split("/")
    if len(rest) != 2 or not DEVICE_ID_PATTERN.fullmatch(rest[0]):
        return None
    return rest[0], rest[1]
