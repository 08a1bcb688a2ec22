"""Models of the gateway-key routes: the key a health gateway names a device's patient by."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from api.schemas.common import _In, _Out


class GatewayKeyIn(_In):
    """The gateway's Patient.identifier for the device's patient (system optional: any)."""

    system: str | None = Field(None, min_length=1, max_length=256,
                               examples=["urn:oid:1.2.3.4.5.6.7.8.10"])
    value: str = Field(min_length=1, max_length=256, pattern=r"^\S(.*\S)?$",
                       examples=["user-77"])


class GatewayKeyOut(_Out):
    """A device's gateway key, and the patient it names."""

    device_id: str
    patient_id: int
    system: str | None
    value: str
    set_at: datetime
