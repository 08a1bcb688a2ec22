"""The ingest benchmark stores every reading exactly once in each variant and reports ratios."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from bench import ingest
from bench.databases import drop_database
from bench.processes import command_available
from telehub.demo.embedded import mosquitto_binary

pytestmark = pytest.mark.skipif(mosquitto_binary() is None,
                                reason="the ingest benchmark starts its own mosquitto")


def test_ingest_bench_counts_every_reading_once_in_every_variant(
        pg_admin_url: str, tmp_path: Path) -> None:
    name = f"telehub_bench_t_{uuid.uuid4().hex[:12]}"
    sizes = ingest.IngestSizes(devices=20, per_device=10, hubs=(1, 2), stall_s=10)
    try:
        report = ingest.run(pg_admin_url, sizes, database=name)
    finally:
        drop_database(pg_admin_url, name)

    doc = json.loads(report.write(tmp_path).read_text())
    assert doc["benchmark"] == "ingest" and doc["params"]["readings"] == 200
    rows = {row["variant"]: row for row in doc["rows"]}
    expected = ["broker relay → raw-socket subscriber", "broker relay → paho subscriber",
                "INSERT+COMMIT each"]
    if command_available("hub") is None:
        expected += ["hub × 1", "hub × 2 (shared)"]
        assert rows["hub × 1"]["peak_rss_mb"] > 10
        # The local PostgreSQL's CPU per reading stored, the bench's own polling left out.
        assert isinstance(rows["hub × 1"]["postgres_cpu_us_per_reading"], float)
        assert rows["hub × 1"]["postgres_cpu_us_per_reading"] >= 0
        assert "poll_cpu_s" not in rows["hub × 1"] and "postgresql" not in rows["hub × 1"][
            "memory"]
        assert rows["hub × 2 (shared)"]["rejected"] == 0
        assert doc["ratios"]["hub × 1 / INSERT+COMMIT each"] > 0
    else:
        assert any("hub" in note for note in doc["notes"])
    assert list(rows) == expected
    for row in rows.values():
        assert (row["stored"], row["lost"], row["duplicated"]) == (200, 0, 0), row
        assert row["readings_per_s"] > 0 and row["seconds"] > 0
    assert doc["ratios"]


@pytest.mark.skipif(command_available("hub") is not None, reason="needs the hub installed")
def test_broker_saves_runs_the_hub_live_and_after_a_backlog_on_each_saving_broker(
        pg_admin_url: str, tmp_path: Path) -> None:
    name = f"telehub_bench_t_{uuid.uuid4().hex[:12]}"
    sizes = ingest.IngestSizes(devices=20, per_device=10, hubs=(), stall_s=10,
                               broker_saves=("100",))
    try:
        report = ingest.run(pg_admin_url, sizes, database=name, baselines=False)
    finally:
        drop_database(pg_admin_url, name)

    rows = {row["variant"]: row for row in report.rows}
    assert list(rows) == ["hub × 1, broker state in memory, hub down then back",
                          "hub × 1, broker saving every 100 changes, hub down then back",
                          "hub × 1, broker saving every 100 changes"]
    for row in rows.values():
        assert (row["stored"], row["lost"], row["duplicated"]) == (200, 0, 0), row
        assert row["publish_per_s"] > 0
    assert "hub × 1, broker saving every 100 changes, hub down: readings accepted/s / in " \
        "memory" in report.ratios


def test_the_local_database_servers_pid_is_found(pg_admin_url: str) -> None:
    """The tests' PostgreSQL runs on this machine: its server process is found, so the
    bench can count its CPU; a server that cannot be reached gives None."""
    import psutil

    from bench.processes import local_postgres_pid

    pids = {local_postgres_pid(pg_admin_url) for _ in range(5)}
    assert len(pids) == 1
    (pid,) = pids
    assert pid is not None and psutil.Process(pid).name().startswith("postgres")
    assert local_postgres_pid("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2") is None


def test_broker_saves_are_off_30s_or_a_count_of_changes() -> None:
    from bench.processes import parse_saves

    assert parse_saves("off") is None and parse_saves("30s") is None
    assert parse_saves("100") == 100
    for bad in ("0", "-5", "١٠", "often"):
        with pytest.raises(ValueError, match="broker saves"):
            parse_saves(bad)
