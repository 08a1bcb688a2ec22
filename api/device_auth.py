"""Signing in as a device (HTTP Basic: device id and its MQTT password), for every route a
gateway posts readings to (`POST /readings`, `POST /fhir`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from api.deps import DbConn
from api.errors import ApiError
from telehub.broker.passwords import verify_mosquitto_password
from telehub.domain.reading_checks import check_sender
from telehub.errors import ValidationError

device_basic = HTTPBasic(auto_error=False, description="Device id and its MQTT password")

# The gateway's key for the patient counts only while the device is still that patient's.
DEVICE_SQL = """
SELECT d.id AS device_pk, d.device_id, d.serial, d.active, d.credential_hash, d.patient_id,
       d.kind::text, p.status::text AS patient_status, p.nhs_number, p.display_id,
       k.system AS key_system, k.value AS key_value
  FROM devices d LEFT JOIN patients p ON p.id = d.patient_id
  LEFT JOIN device_gateway_keys k ON k.device_id = d.id AND k.patient_id = d.patient_id
 WHERE d.device_id = %s
"""
REFUSED = ApiError(401, "Unknown device or wrong device password.", "bad-device-credentials",
                   {"WWW-Authenticate": 'Basic realm="telehub-devices"'})


@dataclass(frozen=True)
class SignedInDevice:
    """The device a gateway signed in as, and how its patient may be named."""

    pk: int
    device_id: str
    serial: str | None
    active: bool
    kind: str | None
    patient_id: int | None
    patient_status: str | None
    # Kept out of repr so no log line or traceback can ever show an NHS number.
    nhs_number: str | None = field(repr=False)
    display_id: str | None = field(repr=False)
    # The key a gateway names this patient by (system may be None: any system), if mapped.
    key_system: str | None = field(default=None, repr=False)
    key_value: str | None = field(default=None, repr=False)

    @property
    def patient_refs(self) -> frozenset[str]:
        """Every way a payload may name the device's own patient: NHS number, Telehub key,
        id, and the gateway's key for the patient."""
        return frozenset(str(r) for r in (self.nhs_number, self.display_id, self.patient_id,
                                          self.key_value) if r is not None)


DeviceCredentials = Annotated[HTTPBasicCredentials | None, Depends(device_basic)]


def signed_in_device(conn: DbConn, creds: HTTPBasicCredentials | None) -> SignedInDevice:
    """The active device whose id and password came with the request, else 401.

    Called in the route, after the body is read, so a malformed body is told as such."""
    if creds is None:
        raise REFUSED
    row = conn.execute(DEVICE_SQL, (creds.username,)).fetchone()
    conn.commit()
    if row is None or not row["active"] or not verify_mosquitto_password(
            row["credential_hash"], creds.password):
        raise REFUSED
    return _device(row)


def _device(row: dict[str, Any]) -> SignedInDevice:
    return SignedInDevice(pk=row["device_pk"], device_id=row["device_id"], serial=row["serial"],
                          active=row["active"], kind=row["kind"], patient_id=row["patient_id"],
                          patient_status=row["patient_status"], nhs_number=row["nhs_number"],
                          display_id=row["display_id"], key_system=row["key_system"],
                          key_value=row["key_value"])


def check_may_send(device: SignedInDevice) -> None:
    """The hub's "may this device send readings" check, answered now as 409."""
    if device.patient_id is None:
        raise ApiError(409, "The device is not assigned to a patient.", "unassigned-device")
    try:
        check_sender(device, device.device_id, sends="readings")
    except ValidationError as err:
        raise ApiError(409, err.message, err.code) from err

