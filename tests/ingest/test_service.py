"""The hub's composition root: refused credentials stop it, metrics are served, batches close."""

from __future__ import annotations

import queue
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.batcher import take_batch
from ingest.service import run, start_metrics_endpoint
from ingest.writer import Received
from telehub.config import Settings


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


def _message(size: int) -> Received:
    return Received("t", b"x" * size, 1, 1, time.time())


def test_a_batch_closes_at_its_size_its_bytes_or_its_wait() -> None:
    inbox: queue.Queue[Received] = queue.Queue()
    for _ in range(10):
        inbox.put(_message(100))
    assert len(take_batch(inbox, max_items=4, wait_s=1.0)) == 4
    assert len(take_batch(inbox, max_items=100, wait_s=1.0, max_bytes=250)) == 3
    started = time.monotonic()
    assert len(take_batch(inbox, max_items=100, wait_s=0.05)) == 3
    assert time.monotonic() - started < 0.5
    assert take_batch(inbox, max_items=100, wait_s=0.05, first_timeout=0.01) == []


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
