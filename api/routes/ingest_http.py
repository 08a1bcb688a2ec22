"""`POST /readings`: HTTP ingest for gateways that cannot speak MQTT."""

from __future__ import annotations

import json
import logging
from datetime import datetime

from fastapi import APIRouter

from api.deps import Conn, State
from api.device_auth import DeviceCredentials, check_may_send, signed_in_device
from api.errors import ApiError
from api.publisher import PublishError
from api.schemas.common import Problem
from api.schemas.readings import ReadingIn, ReadingsAccepted, ReadingsIn
from telehub.domain import clock
from telehub.domain.reading_checks import check_reading_time, measured_value
from telehub.domain.units import Metric, normalise, parse_unit
from telehub.errors import ValidationError
from telehub.mqtt import topics

# The gateway signs in as the device (HTTP Basic: device id and its MQTT password); the
# readings are checked like the hub checks them and republished, QoS 1, on the device's
# readings topic, so the hub stores them idempotently through its one pipeline.

logger = logging.getLogger(__name__)

router = APIRouter(tags=["readings"])


@router.post("/readings", response_model=ReadingsAccepted, status_code=202,
             summary="Submit readings as a device (HTTP gateway)",
             responses={401: {"model": Problem}, 409: {"model": Problem},
                        422: {"model": Problem}, 503: {"model": Problem}})
def post_readings(body: ReadingsIn, conn: Conn, state: State,
                  creds: DeviceCredentials) -> ReadingsAccepted:
    """Check the readings and pass them to the hub over MQTT; 202 once the broker has them."""
    device = signed_in_device(conn, creds)
    check_may_send(device)
    now = clock.now()
    for index, reading in enumerate(body.readings):
        _check(reading, index, now, state.settings.ingest.horizon_days,
               state.settings.ingest.future_tolerance_s)
    topic = topics.readings_topic(device.device_id, state.settings.topic_root)
    payload = json.dumps({"readings": [r.model_dump(mode="json", exclude_none=True)
                                       for r in body.readings]}).encode()
    try:
        state.publisher().publish(topic, payload)
    except PublishError as err:
        logger.warning("readings of device %s not passed on: %s", device.device_id, err)
        raise ApiError(503, "The message broker is not reachable; send again shortly.",
                       "broker-unavailable", {"Retry-After": "5"}) from err
    return ReadingsAccepted(device_id=device.device_id, accepted=len(body.readings),
                            topic=topic)


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
