"""A device's sequence gaps and refused messages over HTTP, as the hub's writer records them."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from api.routes.devices import PREVIEW_BYTES, payload_preview
from ingest.batch_store import store_batch
from ingest.work_queue import Received
from telehub.care import registration as registry
from telehub.config import IngestSettings
from telehub.domain.readings import StoredReading
from telehub.mqtt import topics
from tests.api.conftest import LiveApi


def _no_rules(conn: psycopg.Connection, readings: Sequence[StoredReading]) -> None:
    """The rules engine is not under test here."""


def ingest(live_api: LiveApi, conn: psycopg.Connection, device_id: str,
           payloads: list[bytes]) -> None:
    """Store messages through the hub's batch writer, one transaction a message."""
    root = live_api.settings.topic_root
    for mid, payload in enumerate(payloads, start=1):
        message = Received(topics.readings_topic(device_id, root), payload, mid, 1, time.time())
        with conn.transaction():
            store_batch(conn, [message], limits=IngestSettings(), prefix=root,
                        evaluate=_no_rules)


def spo2(seq: int, value: float = 95, **extra: Any) -> bytes:
    """A native oximeter message with a sequence number."""
    at = (datetime.now(UTC) - timedelta(minutes=60 - seq)).isoformat()
    return json.dumps({"id": f"r{seq}", "metric": "spo2", "value": value, "unit": "%",
                       "time": at, "seq": seq, **extra}).encode()


def test_gaps_newest_first_paginated_and_audited(live_api: LiveApi,
                                                 conn: psycopg.Connection) -> None:
    ann = live_api.world.patients["ann"]
    registry.add_device(conn, device_id="ox-ann", kind="oximeter", patient=ann)
    conn.commit()
    # 3-4 and 6-8 never arrive; 5 arriving late after 9 reveals nothing new.
    ingest(live_api, conn, "ox-ann", [spo2(1), spo2(2), spo2(5), spo2(9), spo2(4)])
    with live_api.client("admin") as c:
        r = c.get("/devices/ox-ann/gaps")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["total"] == 2
        assert [(g["expected_seq"], g["received_seq"], g["missing"]) for g in body["items"]] == [
            (6, 9, 3), (3, 5, 2)]
        assert body["items"][0]["detected_at"] >= body["items"][1]["detected_at"]
        page = c.get("/devices/ox-ann/gaps", params={"limit": 1, "offset": 1}).json()
        assert page["total"] == 2 and [g["expected_seq"] for g in page["items"]] == [3]
        later = datetime.now(UTC) + timedelta(minutes=1)
        assert c.get("/devices/ox-ann/gaps", params={"since": later.isoformat()}
                     ).json() == {"items": [], "total": 0, "limit": 50, "offset": 0}
        assert c.get("/devices/no-such/gaps").status_code == 404
    audits = conn.execute("SELECT action, resource, patient_id, detail FROM audit_log "
                          "WHERE resource = 'device-gaps' ORDER BY id").fetchall()
    assert len(audits) == 3
    assert audits[0] == {"action": "read", "resource": "device-gaps", "patient_id": ann,
                         "detail": {"device_id": "ox-ann"}}


def test_refused_messages_carry_reason_and_a_truncated_preview(
        live_api: LiveApi, conn: psycopg.Connection) -> None:
    ann = live_api.world.patients["ann"]
    registry.add_device(conn, device_id="ox-ann", kind="oximeter", patient=ann)
    conn.commit()
    long_note = "x" * 1000
    ingest(live_api, conn, "ox-ann", [b"{not json", spo2(1, value=140),
                                      spo2(2, value=96, note=long_note)])
    with live_api.client("admin") as c:
        r = c.get("/devices/ox-ann/rejected")
        assert r.status_code == 200, r.text
        items = r.json()["items"]
    # The good reading is stored; the two bad messages are listed newest first.
    assert conn.execute("SELECT count(*) AS n FROM readings").fetchone()["n"] == 1
    assert [i["reason_code"] for i in items] == ["implausible-value", "not-json"]
    implausible, garbled = items
    assert "140" in implausible["payload_preview"] and "100" in implausible["reason"]
    assert implausible["topic"].endswith("/devices/ox-ann/readings")
    assert garbled["payload_preview"] == "{not json" and garbled["payload_size"] == 9
    assert garbled["preview_truncated"] is False
    assert garbled["received_at"] <= implausible["received_at"]
    stored = conn.execute("SELECT reason_code, reason FROM rejected_messages ORDER BY id"
                          ).fetchall()
    assert [(s["reason_code"], s["reason"]) for s in stored] == [
        (garbled["reason_code"], garbled["reason"]),
        (implausible["reason_code"], implausible["reason"])]


def test_a_long_payload_is_cut_and_says_so(live_api: LiveApi, conn: psycopg.Connection) -> None:
    ann = live_api.world.patients["ann"]
    registry.add_device(conn, device_id="ox-ann", kind="oximeter", patient=ann)
    conn.commit()
    payload = spo2(1, value=140, note="é" * 600)  # implausible, and ~1.3 kB
    ingest(live_api, conn, "ox-ann", [payload])
    with live_api.client("admin") as c:
        (item,) = c.get("/devices/ox-ann/rejected").json()["items"]
    assert item["payload_size"] == len(payload) and item["preview_truncated"] is True
    preview = item["payload_preview"]
    assert payload.decode().startswith(preview)  # no character split into U+FFFD
    assert PREVIEW_BYTES - 1 <= len(preview.encode()) <= PREVIEW_BYTES


def test_an_unregistered_device_shows_its_refusals(live_api: LiveApi,
                                                   conn: psycopg.Connection) -> None:
    ingest(live_api, conn, "stray-1", [spo2(1)])
    with live_api.client("admin") as c:
        (item,) = c.get("/devices/stray-1/rejected").json()["items"]
        assert item["reason_code"] == "unknown-device"
        assert c.get("/devices/stray-1/gaps").status_code == 404
        assert c.get("/devices/never-heard/rejected").status_code == 404
    audit = conn.execute("SELECT patient_id, detail FROM audit_log "
                         "WHERE resource = 'device-rejections'").fetchone()
    assert audit == {"patient_id": None, "detail": {"device_id": "stray-1"}}


def test_only_admins_see_gaps_and_refusals(live_api: LiveApi, conn: psycopg.Connection) -> None:
    registry.add_device(conn, device_id="ox-ann", kind="oximeter",
                        patient=live_api.world.patients["ann"])
    conn.commit()
    for user in ("matron", "nurse", "responder", "manager"):
        with live_api.client(user) as c:
            for route in ("gaps", "rejected"):
                r = c.get(f"/devices/ox-ann/{route}")
                assert r.status_code == 403, (user, route, r.text)
                assert r.json()["code"] == "forbidden"
    with live_api.client() as c:
        assert c.get("/devices/ox-ann/gaps").status_code == 401
    with live_api.client("admin") as c:
        assert c.get("/devices/ox-ann/gaps", params={"limit": 0}).status_code == 422
    assert conn.execute("SELECT count(*) AS n FROM audit_log").fetchone()["n"] == 0


def test_preview_shows_unprintable_bytes_as_replacement_characters() -> None:
    assert payload_preview(b"ok\x00\xff\n", cut=False) == "ok\ufffd\ufffd\n"
    assert payload_preview("é".encode()[:1], cut=True) == ""
    assert payload_preview("é".encode()[:1], cut=False) == "\ufffd"
