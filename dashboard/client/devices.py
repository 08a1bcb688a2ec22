"""Home devices as an admin manages them: the register, links to patients, MQTT credentials,
and each device's missing and refused messages."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from dashboard.client.transport import Transport


class _In(BaseModel):
    """The fields the dashboard shows; unknown ones are ignored, so the API may grow."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Device(_In):
    """A registered home device."""

    id: int
    device_id: str
    kind: str
    serial: str | None = None
    patient_id: int | None = None
    patient_display_id: str | None = None
    active: bool = True
    has_credentials: bool = False
    online: bool | None = None
    last_seen_at: datetime | None = None
    battery: int | None = None
    firmware: str | None = None


class SeqGap(_In):
    """Messages a device numbered that never arrived (its sequence counter skipped)."""

    id: int
    expected_seq: int
    received_seq: int
    missing: int
    detected_at: datetime


class RejectedMessage(_In):
    """A message (or one reading of a batch) the hub refused, with the reason."""

    id: int
    received_at: datetime
    topic: str
    reason_code: str
    reason: str
    item_index: int | None = None
    payload_size: int
    payload_preview: str = ""
    preview_truncated: bool = False


class DeviceCredentials(_In):
    """MQTT credentials for a device, shown once."""

    device_id: str
    username: str
    password: str
    readings_topic: str
    status_topic: str


class DeviceCalls(Transport):
    """The device register and its diagnostics (admins)."""

    def devices(self, patient_id: int | None = None) -> list[Device]:
        """Registered devices (all, or one patient's)."""
        return self._list("/devices", Device, patient_id=patient_id, limit=500)

    def add_device(self, device_id: str, kind: str, serial: str | None = None,
                   patient_id: int | None = None) -> Device:
        """Register a device, optionally given to a patient."""
        return self._post("/devices", Device, device_id=device_id, kind=kind,
                          serial=serial or None, patient_id=patient_id)

    def assign_device(self, device_id: str, patient_id: int) -> None:
        """Give a device to a patient."""
        self._request("POST", f"/devices/{device_id}/assign", json={"patient_id": patient_id})

    def unassign_device(self, device_id: str) -> None:
        """Take a device back from its patient."""
        self._request("POST", f"/devices/{device_id}/unassign")

    def device_gaps(self, device_id: str, limit: int = 100) -> list[SeqGap]:
        """Where the device's message counter skipped, newest first (admins)."""
        return self._list(f"/devices/{device_id}/gaps", SeqGap, limit=limit)

    def device_rejected(self, device_id: str, limit: int = 100) -> list[RejectedMessage]:
        """Messages the hub refused from this device, newest first, with reasons (admins)."""
        return self._list(f"/devices/{device_id}/rejected", RejectedMessage, limit=limit)

    def device_credentials(self, device_id: str) -> DeviceCredentials:
        """Generate MQTT credentials for a device (the password is shown once)."""
        return DeviceCredentials.model_validate(
            self._request("POST", f"/devices/{device_id}/credentials"))
