"""Sustained ingest throughput: N readings from D devices through a real hub process.

Run: .venv/bin/python -m tests.ingest.throughput [--readings 20000] [--devices 200]
     (TELEHUB_TEST_DATABASE_URL names a PostgreSQL server where a database may be created.)

A Mosquitto of the script's own is started with a large offline queue, so the broker
never drops a message; two timings are reported:
- live: the hub runs while every reading is published; first publish → last stored;
- backlog: the readings wait on the broker while the hub is down, then the hub drains them.
Readings are normal SpO2 values unless --abnormal (then the rules engine raises many alerts).
Every reading is then checked: none lost, none doubled.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

from telehub.care import registration as registry
from telehub.config import parse_mqtt_url
from telehub.db.migrate import migrate
from telehub.db.pool import connect
from telehub.domain.nhs_number import synthetic_nhs_numbers
from telehub.mqtt import topics
from telehub.mqtt.connection import MqttConnection

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def own_broker(tmp: Path) -> Iterator[str]:
    """A Mosquitto that queues without limit for offline persistent sessions."""
    port = free_port()
    conf = tmp / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "max_queued_messages 0\nmax_inflight_messages 0\n")
    proc = subprocess.Popen([shutil.which("mosquitto") or "mosquitto", "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    try:
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def fresh_database(admin_url: str, devices: int) -> Iterator[tuple[str, list[str]]]:
    """A migrated database with one patient and oximeter per device."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = f"telehub_tp_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = conninfo_to_dict(admin_url)
    params["dbname"] = name
    url = make_conninfo(**params)
    ids = [f"tp-ox-{i:05d}" for i in range(devices)]
    try:
        with connect(url) as conn:
            migrate(conn)
            registry.add_team(conn, "throughput", "Throughput")
            numbers = synthetic_nhs_numbers(start=700_000)
            for device_id in ids:
                pid = registry.add_patient(conn, nhs_number=next(numbers), given_name="Test",
                                           family_name="Patient", birth_date=date(1940, 1, 1),
                                           team="throughput", conditions=["copd"])
                registry.add_device(conn, device_id=device_id, kind="oximeter", patient=pid)
            conn.commit()
        yield url, ids
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                          .format(sql.Identifier(name)))


def start_hub(url: str, mqtt_url: str, prefix: str, client_id: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, TELEHUB_DATABASE_URL=url, TELEHUB_MQTT_URL=mqtt_url,
               TELEHUB_TOPIC_ROOT=prefix, TELEHUB_INGEST__CLIENT_ID=client_id,
               TELEHUB_INGEST__METRICS_PORT="0", TELEHUB_LOG_LEVEL="WARNING")
    return subprocess.Popen([sys.executable, "-m", "telehub", "hub"], cwd=ROOT, env=env)


def stored(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as c:
        row = c.execute("SELECT count(*) FROM readings").fetchone()
    return int(row[0]) if row else 0


def wait_stored(url: str, n: int, timeout: float = 300.0) -> float:
    """Wait until `n` readings are stored; returns the time it happened."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stored(url) >= n:
            return time.perf_counter()
        time.sleep(0.02)
    raise SystemExit(f"only {stored(url)} of {n} readings stored after {timeout:.0f} s")


def payloads(ids: list[str], total: int, prefix: str, *, abnormal: bool
             ) -> list[tuple[str, bytes]]:
    start = datetime.now(UTC) - timedelta(days=2)
    out = []
    for i in range(total):
        device = ids[i % len(ids)]
        at = (start + timedelta(seconds=i)).isoformat().replace("+00:00", "Z")
        value = (90 + i % 9) if abnormal else (96 + i % 4)
        body = {"id": f"r{i}", "metric": "spo2", "value": value, "unit": "%", "time": at,
                "seq": i // len(ids)}
        out.append((topics.readings_topic(device, prefix), json.dumps(body).encode()))
    return out


def publish(mqtt_url: str, messages: list[tuple[str, bytes]]) -> float:
    """Publish every message at QoS 1 and wait for the broker's acks; returns the start time."""
    endpoint = parse_mqtt_url(mqtt_url)
    client = MqttConnection(endpoint, name="throughput publisher", receive_maximum=2000)
    client.start()
    assert client.wait_ready(10)
    started = time.perf_counter()
    infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(60)
    client.stop()
    return started


def check(url: str, total: int) -> str:
    with psycopg.connect(url, autocommit=True) as c:
        row = c.execute("SELECT count(*), count(DISTINCT (device_id, reading_key)) "
                        "FROM readings").fetchone()
    assert row is not None
    n, distinct = row
    return f"stored {n}, distinct {distinct}, lost {total - distinct}, doubled {n - distinct}"


def run_case(admin_url: str, mqtt_url: str, total: int, devices: int, *, backlog: bool,
             abnormal: bool) -> None:
    with fresh_database(admin_url, devices) as (url, ids):
        prefix = f"tp/{uuid.uuid4().hex[:8]}/telehub/v1"
        client_id = f"tp-hub-{uuid.uuid4().hex[:6]}"
        messages = payloads(ids, total, prefix, abnormal=abnormal)
        hub = start_hub(url, mqtt_url, prefix, client_id)
        try:
            warm = [(topics.readings_topic(ids[0], prefix),
                     json.dumps({"id": "warm", "metric": "spo2", "value": 95, "time":
                                 datetime.now(UTC).isoformat()}).encode())]
            while stored(url) < 1:  # the hub has subscribed once its first reading lands
                publish(mqtt_url, warm)
                time.sleep(0.3)
            if backlog:
                hub.terminate()
                hub.wait(30)
                publish(mqtt_url, messages)
                started = time.perf_counter()
                hub = start_hub(url, mqtt_url, prefix, client_id)
            else:
                started = publish(mqtt_url, messages)
            done = wait_stored(url, total + 1)
        finally:
            hub.terminate()
            hub.wait(30)
        label = ("backlog drain" if backlog else "live") + (
            ", SpO2 90–98 % (rules fire)" if abnormal else ", SpO2 96–99 %")
        seconds = done - started
        print(f"{label}: {total} readings from {devices} devices in {seconds:.2f} s = "
              f"{total / seconds:,.0f} readings/s ({check(url, total + 1)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=20_000)
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--abnormal", action="store_true",
                        help="SpO2 90–98 %% so that many rules fire (default: normal 96–99 %%).")
    parser.add_argument("--backlog-only", action="store_true")
    args = parser.parse_args()
    admin_url = os.environ.get("TELEHUB_TEST_DATABASE_URL", "postgresql://root@127.0.0.1/test")
    with tempfile.TemporaryDirectory(prefix="telehub-tp-") as tmp, own_broker(Path(tmp)) as mqtt:
        if not args.backlog_only:
            run_case(admin_url, mqtt, args.readings, args.devices, backlog=False,
                     abnormal=args.abnormal)
        run_case(admin_url, mqtt, args.readings, args.devices, backlog=True,
                 abnormal=args.abnormal)


if __name__ == "__main__":
    main()
