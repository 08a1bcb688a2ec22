"""PostgreSQL failover mid-stream: a primary and a synchronous hot standby of the test's own,
the hub and the API on a multi-host URL (target_session_attrs=read-write). The primary is
SIGKILLed while readings stream in, the standby is promoted, and nothing is lost or doubled:
every reading the broker acknowledged is stored once, each alert is raised once, every
notification reaches the responder; the API answers 503 while there is no primary and 200
after the promotion, without a restart."""

from __future__ import annotations

import hashlib
import json
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg.rows import tuple_row

from alerts.deliveries import UNDELIVERED_SQL
from api.main import create_app
from telehub.care import registration as registry
from telehub.config import Settings
from telehub.demo.embedded import PostgresCluster, clone_standby, init_primary
from telehub.mqtt.topics import readings_topic
from tests.api.conftest import ServerThread
from tests.reliability.harness import (
    ROOT,
    Device,
    Fleet,
    Hub,
    Responder,
    ShippedBroker,
    count,
    duplicated,
    stored,
    wait_for,
    wait_hub_online,
)

pytestmark = pytest.mark.slow

PER_DEVICE = 180            # x 20 devices = 3,600 readings
RATE_PER_DEVICE = 3.0       # 60 readings/s in all: a 60-second stream around the outage
LOW_EVERY = 25              # one reading in 25 is an SpO2 of 86 %, which raises an alert
# No primary for 40 s: what an external failover manager's defaults take to notice a dead
# primary and promote (Patroni: ttl 30 s, loop_wait 10 s). By then psycopg_pool's default
# reconnect back-off (1, 2, 4 … s) has grown to a 32 s gap between attempts.
OUTAGE_S = 40.0
# The hub and the API must find the new primary within this of its promotion.
RECOVERY_S = 10.0


@dataclass(frozen=True)
class Replicated:
    """A primary, its synchronous standby, and the multi-host URL the services use."""

    primary: PostgresCluster
    standby: PostgresCluster
    url: str

    def node_url(self, node: PostgresCluster) -> str:
        """One node's `telehub` database, whatever its role."""
        return f"postgresql://postgres@127.0.0.1:{node.port}/telehub?connect_timeout=3"


@pytest.fixture
def replicated() -> Iterator[Replicated]:
    """A primary (synchronous_standby_names '*') and a pg_basebackup standby on free ports,
    with a migrated `telehub` database; both removed afterwards."""
    base = Path(tempfile.mkdtemp(prefix="telehub-failover-"))
    nodes: list[PostgresCluster] = []
    try:
        nodes.append(primary := init_primary(base))
        nodes.append(standby := clone_standby(primary, base))
        with psycopg.connect(primary.url, autocommit=True) as c:
            wait_for(lambda: c.execute("SELECT count(*) FROM pg_stat_replication "
                                       "WHERE sync_state = 'sync'").fetchone() == (1,),
                     timeout=30, what="the standby to replicate synchronously")
            c.execute("CREATE DATABASE telehub")
        url = (f"postgresql://postgres@127.0.0.1:{primary.port},127.0.0.1:{standby.port}"
               "/telehub?target_session_attrs=read-write&connect_timeout=3")
        done = subprocess.run([sys.executable, "-m", "telehub", "migrate"], cwd=ROOT,
                              env=dict(os.environ, TELEHUB_DATABASE_URL=url),
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        yield Replicated(primary, standby, url)
    finally:
        for node in reversed(nodes):
            node.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def db_url(replicated: Replicated) -> str:
    """The fleet, the broker's credentials, the hub and the API all use the multi-host URL."""
    return replicated.url


def stream(devices: list[Device], start: datetime) -> None:
    """Every device sends PER_DEVICE distinct readings at RATE_PER_DEVICE; some are low."""
    def run(device: Device) -> None:
        for i in range(PER_DEVICE):
            value = 86 if i % LOW_EVERY == LOW_EVERY - 1 else 96
            body = {"id": f"{device.device_id}-{i}", "metric": "spo2", "value": value,
                    "unit": "%", "time": (start + timedelta(seconds=i)).isoformat()}
            device.client.publish(readings_topic(device.device_id), json.dumps(body).encode(),
                                  qos=1)
            time.sleep(1 / RATE_PER_DEVICE)

    threads = [threading.Thread(target=run, args=(d,)) for d in devices]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def nurse_token(conn: psycopg.Connection) -> str:
    """A session token of a nurse of the fleet's team, written straight to the database."""
    staff = registry.add_staff(conn, username="failover-nurse", display_name="Failover Nurse",
                               role="nurse", team="fault-team")
    token = secrets.token_urlsafe(32)
    conn.execute("INSERT INTO api_tokens (token_hash, staff_id, kind, expires_at) "
                 "VALUES (%s, %s, 'session', now() + interval '1 hour')",
                 (hashlib.sha256(token.encode()).digest(), staff))
    conn.commit()
    return token


def test_primary_killed_mid_stream_and_standby_promoted_loses_and_doubles_nothing(
        replicated: Replicated, conn: psycopg.Connection,
        fleet: tuple[Fleet, dict[str, str]], shipped_broker: ShippedBroker,
        devices: list[Device], make_hub: Callable[..., Hub],
        capsys: pytest.CaptureFixture[str]) -> None:
    url = replicated.url
    token = nurse_token(conn)
    conn.close()  # its server is about to die
    responder = Responder(shipped_broker.port)
    assert responder.subscribed.wait(10), "the responder did not subscribe"
    hub = make_hub(url, shipped_broker.hub_url, "hub-failover")
    wait_hub_online(shipped_broker, "hub-failover")
    api_settings = Settings(database_url=url, mqtt_url=shipped_broker.hub_url)
    total = PER_DEVICE * len(devices)
    start = datetime.now(UTC) - timedelta(hours=1)
    publisher = threading.Thread(target=stream, args=(devices, start))
    with ServerThread(create_app(api_settings)) as srv, \
            httpx.Client(base_url=f"http://127.0.0.1:{srv.port}", timeout=15,
                         headers={"Authorization": f"Bearer {token}"}) as api:
        assert api.get("/readyz").status_code == 200
        assert api.get("/caseload").status_code == 200
        began = time.monotonic()
        publisher.start()
        wait_for(lambda: stored(url) >= total // 5, timeout=60,
                 what="a fifth of the stream to be stored")
        time.sleep(random.uniform(0.0, 0.5))   # any moment, commits in flight or not

        replicated.primary.kill()
        killed_at = time.monotonic() - began
        acked_by_kill = sum(d.acked for d in devices)
        committed = hub.metrics()["telehub_ingest_readings_stored_total"]
        standby_url = replicated.node_url(replicated.standby)
        on_standby = count(standby_url, "SELECT count(*) FROM readings")
        in_recovery = count(standby_url, "SELECT pg_is_in_recovery()::int")
        outage = [api.get("/readyz"), api.get("/caseload"), api.get("/readyz")]
        time.sleep(max(0.0, killed_at + OUTAGE_S - (time.monotonic() - began)))

        acked_by_promotion = sum(d.acked for d in devices)
        replicated.standby.promote()
        replicated.standby.commit_alone()
        promoted_at = time.monotonic() - began
        wait_for(lambda: api.get("/readyz").status_code == 200, timeout=60,
                 what="the API to find the new primary")
        api_back = time.monotonic() - began - promoted_at
        after = api.get("/caseload")
        wait_for(lambda: stored(url) > on_standby, timeout=60,
                 what="the hub to store on the new primary")
        hub_back = time.monotonic() - began - promoted_at

        publisher.join(120)
        try:
            wait_for(lambda: stored(url) == total, timeout=90, what=f"all {total} readings")
            wait_for(lambda: count(url, UNDELIVERED_SQL) == 0,
                     timeout=60, what="the outbox to drain")
            time.sleep(2.0)   # the last notifications reach the responder; late resends show
        finally:
            responder.close()

    with psycopg.connect(url, autocommit=True) as c:
        cur = c.cursor(row_factory=tuple_row)
        keys = {k for (k,) in cur.execute("SELECT reading_key FROM readings").fetchall()}
        alerts = cur.execute("SELECT patient_id, rule_id, occurrences FROM alerts").fetchall()
        sent = Counter((p["alert_id"], p["event"], p["occurrences"]) for (p,) in cur.execute(
            "SELECT payload FROM outbox").fetchall())
        new_primary = c.info.port
    metrics = hub.metrics()
    got = Counter((p["alert_id"], p["event"], p["occurrences"]) for p in responder.received)
    missing = sent - got
    resent = sum((got - sent).values())
    acked = sum(d.acked for d in devices)
    per_patient = Counter((pid, rule) for pid, rule, _ in alerts)
    with capsys.disabled():
        print(f"\nprimary SIGKILLed at {killed_at:.1f} s of the stream ({acked_by_kill} "
              f"readings acked by the broker, {committed:.0f} committed by the hub, "
              f"{on_standby} on the standby); standby promoted at {promoted_at:.1f} s "
              f"({acked_by_promotion} acked by then); API answered "
              f"{[r.status_code for r in outage]} meanwhile, 200 again {api_back:.1f} s "
              f"after promotion; hub storing again {hub_back:.1f} s after; published "
              f"{total}, acked by the broker {acked}, stored {stored(url)}, duplicated "
              f"{duplicated(url)}, "
              f"batch retries {metrics.get('telehub_ingest_db_retries_total', 0):.0f}, "
              f"redeliveries recognised "
              f"{metrics.get('telehub_ingest_readings_duplicate_total', 0):.0f}; alerts "
              f"{len(alerts)} for {len(fleet[0].patient_ids)} patients, occurrences "
              f"{sum(o for _, _, o in alerts)}; notifications queued {sum(sent.values())}, "
              f"delivered {sum(got.values())}, missing {sum(missing.values())}, "
              f"sent again {resent}")

    # The standby had every committed reading when the primary died (synchronous commit).
    assert in_recovery == 1 and on_standby >= committed > 0
    assert on_standby < acked_by_kill < acked_by_promotion < total, "the kill missed the stream"
    assert api_back < RECOVERY_S and hub_back < RECOVERY_S, "slow to find the new primary"
    # The API said so while there was no primary, and recovered by itself.
    for r in outage:
        assert r.status_code == 503, r.text
    problem = outage[1]
    assert problem.json()["code"] == "database-unavailable"
    assert problem.headers["content-type"] == "application/problem+json"
    assert problem.headers["retry-after"]
    assert outage[0].json()["database"] is False and outage[0].json()["reason"]
    assert after.status_code == 200 and after.json()["total"] == len(devices)
    # Every reading the broker acknowledged, stored once, on the promoted standby.
    assert new_primary == replicated.standby.port
    assert acked == total and sum(d.refused for d in devices) == 0
    assert keys == {f"{d.device_id}-{i}" for d in devices for i in range(PER_DEVICE)}
    assert stored(url) == total and duplicated(url) == 0
    # One alert per patient, every low reading counted once.
    assert set(per_patient.values()) == {1}
    assert {pid for pid, _ in per_patient} == set(fleet[0].patient_ids)
    lows = PER_DEVICE // LOW_EVERY
    assert sum(o for _, _, o in alerts) == lows * len(devices)
    # Every notification reached the responder.
    assert sum(sent.values()) >= len(devices)
    assert not missing, f"notifications never delivered: {list(missing)[:5]}"
    assert hub.proc is not None and hub.proc.poll() is None, "the hub died"
