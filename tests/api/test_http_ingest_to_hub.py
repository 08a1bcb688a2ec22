"""End to end: readings sent to `POST /readings` are stored by the hub, once, and read back."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx

from ingest.service import Ingest
from tests.api.conftest import LiveApi
from tests.log_guard import LogGuard


def test_posted_readings_are_stored_once_by_the_hub(live_api: LiveApi, hub: Ingest,
                                                    log_guard: LogGuard) -> None:
    bob = live_api.world.patients["bob"]
    with live_api.client("admin") as c:
        c.post("/devices", json={"device_id": "ox-gw", "kind": "oximeter", "patient_id": bob})
        password = c.post("/devices/ox-gw/credentials").json()["password"]
    log_guard.register(password)
    now = datetime.now(UTC).replace(microsecond=0)
    body = {"readings": [
        {"id": "g1", "metric": "spo2", "value": 96, "time": (now - timedelta(minutes=2)
                                                              ).isoformat(), "pulse": 71},
        {"id": "g2", "metric": "spo2", "value": 97, "time": now.isoformat()}]}
    for _ in range(2):  # a gateway retrying after a lost response
        r = httpx.post(f"{live_api.url}/readings", json=body, auth=("ox-gw", password),
                       timeout=10)
        assert r.status_code == 202, r.text
    deadline = time.monotonic() + 20
    while hub.stats.stored + hub.stats.duplicates < 6:  # 3 readings, sent twice
        assert time.monotonic() < deadline, "the hub did not store the readings"
        time.sleep(0.05)
    assert (hub.stats.stored, hub.stats.duplicates) == (3, 3)
    with live_api.client("nurse") as c:
        raw = c.get(f"/patients/{bob}/readings").json()["raw"]
    assert sorted((x["metric"], x["value"]) for x in raw) == [
        ("pulse", 71.0), ("spo2", 96.0), ("spo2", 97.0)]
    assert {x["device_id"] for x in raw} == {"ox-gw"}
