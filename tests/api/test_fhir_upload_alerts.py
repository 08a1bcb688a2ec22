"""A red SpO2 uploaded by a PHD gateway raises the same alert, with the same sentence and
notification, as the same reading sent over MQTT."""

from __future__ import annotations

import time
from datetime import UTC, date
from typing import Any

import psycopg

from ingest.service import Ingest
from telehub.care import registration as registry
from tests.api.conftest import LiveApi
from tests.api.phd import (
    ANN_NHS,
    OXIMETER_EUI,
    SPO2,
    Upload,
    a_minute_ago,
    post_bundle,
    register_oximeter,
    statuses,
    valid_response,
)
from tests.ingest.conftest import Publisher
from tests.log_guard import LogGuard

ALERTS_SQL = """
SELECT a.rule_id, a.severity::text AS severity, a.status::text AS status,
       a.metric::text AS metric, a.message, a.values, a.first_breach_at,
       (SELECT count(*) FROM outbox o WHERE o.alert_id = a.id) AS notifications
  FROM alerts a WHERE a.patient_id = %s ORDER BY a.rule_id
"""


def alerts_of(conn: psycopg.Connection[Any], patient_id: int, *, wait_s: float = 20
              ) -> list[dict[str, Any]]:
    """The patient's alerts, once there are some (or [] after `wait_s`)."""
    deadline = time.monotonic() + wait_s
    while True:
        conn.rollback()
        rows = conn.execute(ALERTS_SQL, (patient_id,)).fetchall()
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def test_a_red_spo2_uploaded_over_fhir_raises_the_same_alert_as_over_mqtt(
        live_api: LiveApi, hub: Ingest, conn: psycopg.Connection[Any], log_guard: LogGuard,
        mqtt_url: str, topic_root: str) -> None:
    # Dan's record matches Ann's (same team, conditions, default thresholds).
    log_guard.register("Dan", "Dale")
    dan = registry.add_patient(conn, nhs_number="9990000050", given_name="Dan",
                               family_name="Dale", birth_date=date(1940, 1, 2), team="north",
                               conditions=["heart-failure"])
    registry.add_device(conn, device_id="ox-mqtt", kind="oximeter", patient=dan)
    conn.commit()
    auth = register_oximeter(live_api, log_guard)
    at = a_minute_ago(4)

    up = Upload(ANN_NHS, OXIMETER_EUI, "0400007825")
    body = valid_response(post_bundle(live_api.url, up.add(
        up.numeric(SPO2, 88, "%", at)).bundle(), auth))
    assert statuses(body)[-1] == "201"
    publisher = Publisher(mqtt_url, topic_root)
    try:
        publisher.readings("ox-mqtt", {"id": "m-1", "metric": "spo2", "value": 88,
                                       "unit": "%", "time": at.astimezone(UTC).isoformat()})
        over_mqtt = alerts_of(conn, dan)
    finally:
        publisher.close()
    over_fhir = alerts_of(conn, live_api.world.patients["ann"], wait_s=0)

    assert [(a["rule_id"], a["severity"]) for a in over_fhir] == [("spo2-low", "red")]
    assert over_fhir == over_mqtt
    assert over_fhir[0]["notifications"] >= 1
