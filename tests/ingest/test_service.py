"""The hub's composition root: refused credentials stop it, metrics are served, batches close."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.counters import IngestStats
from ingest.service import run, start_metrics_endpoint
from ingest.work_queue import (
    Barrier,
    EventsWork,
    Flush,
    ReadingsWork,
    Received,
    StatusWork,
    Stop,
    WorkQueue,
    classify,
)
from ingest.writer import BatchWriter
from telehub.config import Settings
from telehub.db.pool import open_pool
from telehub.mqtt import topics
from tests.ingest.conftest import Caseload, count, minutes_ago, reading


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def locked_broker(tmp_path: Path) -> Iterator[str]:
    """A Mosquitto that lets no one in (no anonymous access, no accounts)."""
    binary = shutil.which("mosquitto")
    if binary is None:
        pytest.skip("needs a mosquitto binary")
    port = _free_port()
    conf = tmp_path / "locked.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous false\n")
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    yield f"mqtt://intruder:wrong-secret@127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


def test_hub_refused_by_the_broker_stops_with_an_error(settings: Settings, locked_broker: str,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    started = time.monotonic()
    assert run(settings.model_copy(update={"mqtt_url": locked_broker})) == 1
    assert time.monotonic() - started < 15
    assert any("refused" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records)
    assert not any("wrong-secret" in r.getMessage() for r in caplog.records)


def test_metrics_endpoint_serves_ingest_counters() -> None:
    port = _free_port()
    server = start_metrics_endpoint(port)
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
    finally:
        server.shutdown()
    for name in (b"telehub_ingest_messages_received_total", b"telehub_ingest_readings_stored",
                 b"telehub_ingest_readings_duplicate_total", b"telehub_ingest_batch_seconds"):
        assert name in body
    assert start_metrics_endpoint(0) is None


def _message(size: int) -> ReadingsWork:
    return ReadingsWork(Received("t", b"x" * size, 1, 1, time.time()), "ox-1")


def test_a_batch_closes_at_its_size_its_bytes_or_its_wait() -> None:
    work = WorkQueue()
    for _ in range(10):
        work.put(_message(100))
    assert len(work.take(max_items=4, wait_s=1.0).messages) == 4
    assert len(work.take(max_items=100, wait_s=1.0, max_bytes=250).messages) == 3
    started = time.monotonic()
    assert len(work.take(max_items=100, wait_s=0.05).messages) == 3
    assert time.monotonic() - started < 0.5
    empty = work.take(max_items=100, wait_s=0.05, first_timeout=0.01)
    assert empty.messages == [] and empty.control is None


def test_without_a_wait_a_batch_is_what_is_queued_now() -> None:
    work = WorkQueue()
    work.put(_message(100))
    started = time.monotonic()
    assert len(work.take(max_items=100, wait_s=0.0).messages) == 1     # a lone message at once
    for _ in range(7):
        work.put(_message(100))
    assert len(work.take(max_items=5, wait_s=0.0).messages) == 5      # up to the limit
    assert len(work.take(max_items=100, wait_s=0.0).messages) == 2
    assert time.monotonic() - started < 0.05


def test_a_control_item_ends_the_batch_in_its_place() -> None:
    work = WorkQueue()
    barrier = Barrier()
    for item in (_message(10), _message(10), barrier, _message(10), Flush(), Stop()):
        work.put(item)
    started = time.monotonic()
    first = work.take(max_items=100, wait_s=5.0)
    assert time.monotonic() - started < 1.0, "waited for the batch to fill past a barrier"
    assert len(first.messages) == 2 and first.control is barrier
    second = work.take(max_items=100, wait_s=5.0)
    assert len(second.messages) == 1 and isinstance(second.control, Flush)
    third = work.take(max_items=100, wait_s=5.0)
    assert third.messages == [] and isinstance(third.control, Stop)


def test_messages_are_typed_by_their_topic() -> None:
    root = "telehub/v1"

    def typed(topic: str) -> object:
        return classify(Received(topic, b"", 1, 1, time.time()), root)

    readings = typed(f"{root}/devices/ox-1/readings")
    assert isinstance(readings, ReadingsWork) and readings.device_id == "ox-1"
    assert isinstance(typed(f"{root}/devices/ox-1/status"), StatusWork)
    assert isinstance(typed(f"{root}/devices/pendant-1/events"), EventsWork)
    stray = typed("elsewhere/devices/ox-1/readings")
    assert isinstance(stray, ReadingsWork) and stray.device_id is None


def test_the_minute_summary_is_one_line_of_counts(caplog: pytest.LogCaptureFixture) -> None:
    from collections import Counter

    from ingest import counters

    stats = counters.IngestStats()
    stats.add_received(5)
    stats.add_batch(stored=3, duplicates=1, rejected=Counter({"not-json": 1}),
                    started=time.monotonic())
    assert stats.summary() == ("ingest: received=5 stored=3 duplicates=1 rejected=1 "
                               "(not-json=1) batches=1")
    stats._last_summary -= counters.SUMMARY_INTERVAL_S
    with caplog.at_level("INFO", logger="ingest.counters"):
        stats.maybe_log()
        stats.maybe_log()  # not again within the minute
    assert [r.getMessage() for r in caplog.records] == [stats.summary()]


def test_command_line_overrides_this_workers_id_and_sharing(settings: Settings) -> None:
    from ingest.cli import hub_settings

    same = hub_settings(settings, client_id=None, shared=None)
    assert same is settings
    worker = hub_settings(settings, client_id="hub-east-2", shared=True)
    assert (worker.ingest.client_id, worker.ingest.shared) == ("hub-east-2", True)
    assert worker.ingest.batch_max == settings.ingest.batch_max
    assert settings.ingest.client_id != "hub-east-2"


def test_hub_command_without_a_database_exits_with_a_clear_error() -> None:
    import os
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEHUB_")}
    env["TELEHUB_MQTT_URL"] = "mqtt://127.0.0.1:1883"
    done = subprocess.run([sys.executable, "-m", "telehub", "hub"], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert "TELEHUB_DATABASE_URL is not set" in done.stderr


def test_a_barrier_passes_once_everything_before_it_is_committed_and_acked(
        settings: Settings, caseload: Caseload, db_url: str) -> None:
    # Batches would wait 3 s to fill: only the barrier closes this one early.
    slow = settings.model_copy(update={"ingest": settings.ingest.model_copy(
        update={"batch_wait_ms": 3000})})
    pool = open_pool(slow.require_database_url(), max_size=2)
    work = WorkQueue()
    acked: list[Received] = []
    writer = BatchWriter(slow, pool, work, acked.extend, IngestStats())
    topic = topics.readings_topic(caseload.oximeter, slow.topic_root)

    def put(n: int) -> None:
        body = json.dumps(reading("spo2", 95, "%", rid=f"q{n}", at=minutes_ago(n))).encode()
        work.put(ReadingsWork(Received(topic, body, n, 1, time.time(), time.monotonic()),
                              caseload.oximeter))

    writer.start()
    try:
        for n in (1, 2, 3):
            put(n)
        barrier = Barrier()
        work.put(barrier)
        started = time.monotonic()
        assert barrier.done.wait(10)
        assert time.monotonic() - started < 2.5, "the barrier waited for the batch to fill"
        assert [m.mid for m in acked] == [1, 2, 3]
        assert count(db_url, "SELECT count(*) FROM readings") == 3
        put(4)
    finally:
        writer.stop()   # commits and acks what was queued before it
        pool.close()
    assert not writer.alive
    assert [m.mid for m in acked] == [1, 2, 3, 4]
    assert count(db_url, "SELECT count(*) FROM readings") == 4
