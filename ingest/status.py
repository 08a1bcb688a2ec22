"""Device status messages (retained `…/devices/{id}/status`): online state, battery, firmware."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import psycopg

_ONLINE_WORDS = {"online": True, "connected": True, "up": True,
                 "offline": False, "disconnected": False, "down": False}

UPDATE_STATUS_SQL = """
UPDATE devices
   SET online = COALESCE(%(online)s, online),
       battery = COALESCE(%(battery)s, battery),
       firmware = COALESCE(%(firmware)s, firmware),
       status_at = %(at)s
 WHERE device_id = %(device_id)s
"""


@dataclass(frozen=True)
class DeviceStatus:
    """What a status message said; None where it said nothing."""

    online: bool | None
    battery: int | None = None
    firmware: str | None = None


def decode_status(payload: bytes) -> DeviceStatus | None:
    """`online`/`offline` as plain text, or JSON {"status"|"state"|"online", "battery",
    "firmware"}."""
    text = payload.decode("utf-8", errors="replace").strip()
    if not text:
        return None  # an empty retained message clears the retained status: nothing to record
    word = _ONLINE_WORDS.get(text.lower())
    if word is not None:
        return DeviceStatus(online=word)
    try:
        document = json.loads(text)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    online = document.get("online")
    if not isinstance(online, bool):
        word = document.get("status", document.get("state", ""))
        online = _ONLINE_WORDS.get(str(word).lower())
    battery = document.get("battery")
    if isinstance(battery, bool) or not isinstance(battery, int | float) or not 0 <= battery <= 100:
        battery = None
    firmware = document.get("firmware")
    return DeviceStatus(
        online=online,
        battery=None if battery is None else round(battery),
        firmware=str(firmware)[:64] if firmware is not None else None,
    )


def record_status(conn: psycopg.Connection, device_id: str, status: DeviceStatus,
                  at: datetime) -> bool:
    """Store a device's status; False when no such device is registered."""
    cur = conn.execute(UPDATE_STATUS_SQL, {
        "online": status.online, "battery": status.battery, "firmware": status.firmware,
        "at": at, "device_id": device_id,
    })
    return cur.rowcount > 0
