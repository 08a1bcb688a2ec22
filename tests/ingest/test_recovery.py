"""Nothing lost, nothing doubled: a hub killed mid-stream, and a database outage mid-stream."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from prometheus_client import REGISTRY
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from ingest.service import Ingest
from ingest.writer import CONNECTION_WAIT_S
from telehub.config import Settings
from telehub.db.pool import open_pool
from tests.ingest.conftest import (
    Caseload,
    Publisher,
    count,
    forget_session,
    minutes_ago,
    reading,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[2]


def publish_stream(publisher: Publisher, device_id: str, n: int, *, rate: float,
                   prefix: str) -> threading.Thread:
    """Publish `n` distinct SpO2 readings at about `rate` per second, in a thread."""
    start = minutes_ago(120)

    def run() -> None:
        for i in range(n):
            at = start.replace(microsecond=0) + (i + 1) * (minutes_ago(0) - minutes_ago(0.01))
            publisher.readings(device_id, reading("spo2", 90 + i % 10, "%",
                                                  rid=f"{prefix}-{i}", at=at))
            time.sleep(1 / rate)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def start_hub(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    """`python -m telehub hub` as its own process, configured through the environment."""
    env = dict(os.environ,
               TELEHUB_DATABASE_URL=settings.require_database_url(),
               TELEHUB_MQTT_URL=str(settings.mqtt_url), TELEHUB_TOPIC_ROOT=settings.topic_root,
               TELEHUB_INGEST__CLIENT_ID=settings.ingest.client_id,
               TELEHUB_INGEST__METRICS_PORT="0", TELEHUB_INGEST__BATCH_WAIT_MS="20")
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "telehub", "hub"], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)


@pytest.mark.usefixtures("no_loss_broker")
def test_hub_killed_mid_stream_loses_nothing_and_doubles_nothing(
        settings: Settings, caseload: Caseload, publisher: Publisher, db_url: str,
        tmp_path: Path) -> None:
    log = tmp_path / "hub.log"
    hub = start_hub(settings, log)
    try:
        # The hub's persistent session exists once a first reading has gone through;
        # until it has subscribed, the broker has no one to keep messages for.
        warm_up = reading("spo2", 97, "%", rid="warm-up")

        def started() -> bool:
            publisher.readings(caseload.oximeter, warm_up)
            time.sleep(0.2)
            return count(db_url, "SELECT count(*) FROM readings") == 1

        wait_for(started, timeout=30, what="the hub to start")
        total = 600
        stream = publish_stream(publisher, caseload.oximeter, total, rate=300, prefix="k")
        wait_for(lambda: count(db_url, "SELECT count(*) FROM readings") > 150, what="progress")
        hub.send_signal(signal.SIGKILL)
        hub.wait(10)
        stored_at_kill = count(db_url, "SELECT count(*) FROM readings")
        stream.join(30)
        hub = start_hub(settings, log)
        wait_for(lambda: count(db_url, "SELECT count(*) FROM readings") == total + 1,
                 timeout=40, what="every reading after the restart")
        time.sleep(0.5)  # redeliveries still in flight must not add anything
        assert count(db_url, "SELECT count(*) FROM readings") == total + 1
        assert count(db_url, "SELECT count(DISTINCT reading_key) FROM readings") == total + 1
        assert count(db_url, "SELECT count(*) FROM rejected_messages") == 0
        assert stored_at_kill < total + 1, "the kill came too late to prove anything"
    finally:
        hub.send_signal(signal.SIGTERM)
        try:
            assert hub.wait(20) == 0, log.read_text()[-3000:]
        finally:
            if hub.poll() is None:
                hub.kill()
            forget_session(str(settings.mqtt_url), settings.ingest.client_id)


@pytest.fixture
def pool(settings: Settings) -> Iterator[ConnectionPool]:
    p = open_pool(settings.require_database_url(), max_size=2, timeout=2.0)
    yield p
    p.close()


def test_database_outage_mid_stream_loses_nothing(
        settings: Settings, pool: ConnectionPool, caseload: Caseload, publisher: Publisher,
        db_url: str, pg_admin_url: str) -> None:
    fast = settings.model_copy(update={"ingest": settings.ingest.model_copy(
        update={"batch_wait_ms": 20})})
    name = conninfo_to_dict(db_url)["dbname"]
    retries_before = REGISTRY.get_sample_value("telehub_ingest_db_retries_total") or 0.0
    ingest = Ingest(fast, pool)
    ingest.start()
    try:
        assert ingest.consumer.connected.wait(10)
        total = 300
        stream = publish_stream(publisher, caseload.oximeter, total, rate=200, prefix="o")
        wait_for(lambda: count(db_url, "SELECT count(*) FROM readings") > 50, what="progress")
        with psycopg.connect(pg_admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false")
                          .format(sql.Identifier(name)))
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = %s", (name,))
            # Readings that arrive during the outage, whatever the stream has reached on a
            # busy machine: the writer fails on them, backs off and keeps them unacked.
            # Longer than the writer waits for a pooled connection, so it gives up on the
            # pool at least once (a retry) whether or not it held a connection when cut off.
            during = publish_stream(publisher, caseload.oximeter, 20, rate=50, prefix="q")
            time.sleep(CONNECTION_WAIT_S + 1.0)
            admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true")
                          .format(sql.Identifier(name)))
        stream.join(30)
        during.join(30)
        total += 20
        wait_for(lambda: ingest.stats.received >= total, timeout=40, what="every message taken")
        assert ingest.barrier(40), "the writer did not catch up after the outage"
        assert count(db_url, "SELECT count(*) FROM readings") == total
        assert count(db_url, "SELECT count(*) FROM rejected_messages") == 0
        retries = REGISTRY.get_sample_value("telehub_ingest_db_retries_total") or 0.0
        assert retries > retries_before, "the outage never reached the writer"
    finally:
        ingest.stop()
        forget_session(str(settings.mqtt_url), settings.ingest.client_id)
