"""`POST /readings`: HTTP ingest for gateways that cannot speak MQTT."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from api.deps import Conn, State
from api.errors import ApiError
from api.publisher import PublishError
from api.schemas.common import Problem
from api.schemas.readings import ReadingIn, ReadingsAccepted, ReadingsIn
from telehub.broker.passwords import verify_mosquitto_password
from telehub.domain import clock
from telehub.domain.reading_checks import check_reading_time, check_sender, measured_value
from telehub.domain.units import Metric, normalise, parse_unit
from telehub.errors import ValidationError
from telehub.mqtt import topics

# The gateway signs in as the device (HTTP Basic: device id and its MQTT password); the
# readings are checked like the hub checks them and republished, QoS 1, on the device's
# readings topic, so the hub stores them idempotently through its one pipeline.

logger = logging.getLogger(__name__)

router = APIRouter(tags=["readings"])
device_auth = HTTPBasic(auto_error=False, description="Device id and its MQTT password")

DEVICE_SQL = """
SELECT d.device_id, d.active, d.credential_hash, d.patient_id, d.kind::text,
       p.status::text AS patient_status
  FROM devices d LEFT JOIN patients p ON p.id = d.patient_id
 WHERE d.device_id = %s
"""
_REFUSED = ApiError(401, "Unknown device or wrong device password.", "bad-device-credentials",
                    {"WWW-Authenticate": 'Basic realm="telehub-devices"'})


@router.post("/readings", response_model=ReadingsAccepted, status_code=202,
             summary="Submit readings as a device (HTTP gateway)",
             responses={401: {"model": Problem}, 409: {"model": Problem},
                        422: {"model": Problem}, 503: {"model": Problem}})
def post_readings(body: ReadingsIn, conn: Conn, state: State,
                  creds: Annotated[HTTPBasicCredentials | None, Depends(device_auth)],
                  ) -> ReadingsAccepted:
    """Check the readings and pass them to the hub over MQTT; 202 once the broker has them."""
    if creds is None:
        raise _REFUSED
    row = conn.execute(DEVICE_SQL, (creds.username,)).fetchone()
    conn.commit()
    if row is None or not row["active"] or not verify_mosquitto_password(
            row["credential_hash"], creds.password):
        raise _REFUSED
    _check_sender(row)
    now = clock.now()
    for index, reading in enumerate(body.readings):
        _check(reading, index, now, state.settings.ingest.horizon_days,
               state.settings.ingest.future_tolerance_s)
    topic = topics.readings_topic(row["device_id"], state.settings.topic_root)
    payload = json.dumps({"readings": [r.model_dump(mode="json", exclude_none=True)
                                       for r in body.readings]}).encode()
    try:
        state.publisher().publish(topic, payload)
    except PublishError as err:
        logger.warning("readings of device %s not passed on: %s", row["device_id"], err)
        raise ApiError(503, "The message broker is not reachable; send again shortly.",
                       "broker-unavailable", {"Retry-After": "5"}) from err
    return ReadingsAccepted(device_id=row["device_id"], accepted=len(body.readings),
                            topic=topic)


@dataclass(frozen=True)
class _Device:
    """The signed-in device, as the shared sender check reads it."""

    active: bool
    kind: str | None
    patient_id: int | None
    patient_status: str | None


def _check_sender(row: dict[str, Any]) -> None:
    """The hub's "may this device send readings" check, answered now as 409."""
    if row["patient_id"] is None:
        raise ApiError(409, "The device is not assigned to a patient.", "unassigned-device")
    device = _Device(row["active"], row["kind"], row["patient_id"], row["patient_status"])
    try:
        check_sender(device, str(row["device_id"]), sends="readings")
    except ValidationError as err:
        raise ApiError(409, err.message, err.code) from err


def _check(reading: ReadingIn, index: int, now: datetime, horizon_days: int,
           future_s: int) -> None:
    """The hub's checks that do not need the database, so a gateway hears of them now."""
    where = f"readings[{index}]"
    try:
        metric = Metric(reading.metric)
        measured_value(metric, reading.value, reading.unit, flags=reading.flags)
        if reading.pulse is not None:
            normalise(Metric.PULSE, reading.pulse, parse_unit(Metric.PULSE, None))
    except ValidationError as err:
        raise ApiError(422, f"{where}: {err.message}", err.code) from err
    # The hub's own time checks, with the same reason codes, in this API's wording.
    try:
        check_reading_time(reading.time, now=now, future_tolerance_s=future_s,
                           horizon_days=horizon_days)
    except ValidationError as err:
        reason = err.message[:1].lower() + err.message[1:]
        raise ApiError(422, f"{where}: {reason}", err.code) from err
