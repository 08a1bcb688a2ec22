"""Models of the device routes: devices, sequence gaps, rejected messages, credentials."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import _Out
from telehub.domain.codes import DeviceKind


class DeviceOut(_Out):
    """A registered home device."""

    id: int
    device_id: str
    kind: DeviceKind
    serial: str | None
    patient_id: int | None
    patient_display_id: str | None
    active: bool
    has_credentials: bool
    online: bool | None
    status_at: datetime | None
    last_seen_at: datetime | None
    battery: int | None
    firmware: str | None


class SeqGapOut(_Out):
    """Messages a device numbered but that never arrived (its `seq` counter skipped)."""

    id: int
    expected_seq: int = Field(description="The first sequence number that did not arrive.")
    received_seq: int = Field(description="The sequence number that arrived instead.")
    missing: int = Field(description="How many messages are missing (received - expected).")
    detected_at: datetime


class RejectedMessageOut(_Out):
    """A message (or one reading of a batch) the hub refused, with the reason."""

    id: int
    received_at: datetime
    topic: str
    reason_code: str = Field(description="Machine-readable reason, e.g. 'implausible-value'.")
    reason: str = Field(description="The reason as a sentence.")
    item_index: int | None = Field(None, description="Position in a batch, when one reading "
                                   "of it was refused.")
    payload_size: int = Field(description="Bytes the device sent.")
    payload_preview: str = Field(description="The start of the payload as text (undecodable "
                                 "bytes replaced), for diagnosis.")
    preview_truncated: bool = Field(description="True when the preview is not the whole payload.")


class DeviceCreate(BaseModel):
    """Register a device, optionally assigned to a patient."""

    model_config = ConfigDict(extra="forbid")

    device_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$")
    kind: DeviceKind
    serial: str | None = Field(None, max_length=120)
    patient_id: int | None = None


class DeviceAssign(BaseModel):
    """Give a device to a patient."""

    model_config = ConfigDict(extra="forbid")

    patient_id: int


class DeviceCredentialsOut(BaseModel):
    """MQTT credentials for a device; the password is shown here once and never again."""

    device_id: str
    username: str
    password: str
    readings_topic: str
    status_topic: str

