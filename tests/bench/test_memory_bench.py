"""The memory benchmark samples each process's resident memory while the hub ingests."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from bench import memory
from bench.api_server import api_missing
from bench.databases import drop_database
from bench.ingest import IngestSizes
from bench.processes import command_available
from telehub.demo.embedded import mosquitto_binary

# About 20-30 s: a hub, the API, the dashboard and a headless browser all start.
pytestmark = [
    pytest.mark.skipif(mosquitto_binary() is None, reason="the benchmark starts its own mosquitto"),
    pytest.mark.slow,
]


def test_memory_bench_reports_start_and_peak_rss_of_each_process(
        pg_admin_url: str, tmp_path: Path) -> None:
    if command_available("hub") is not None:
        pytest.skip("the hub is not installed")
    name = f"telehub_bench_t_{uuid.uuid4().hex[:12]}"
    try:
        report = memory.run(pg_admin_url, IngestSizes(devices=20, per_device=10, hubs=(1,)),
                            database=name)
    finally:
        drop_database(pg_admin_url, name)

    doc = json.loads(report.write(tmp_path).read_text())
    assert doc["benchmark"] == "memory" and doc["params"]["lost"] == 0
    rows = {row["process"]: row for row in doc["rows"]}
    expected = {"hub-0", "runtime"} | ({"api"} if api_missing() is None else set()) | (
        {"dashboard"} if command_available("dashboard") is None else set())
    assert expected <= set(rows)
    for row in rows.values():
        assert 5 < row["start_mb"] <= row["peak_mb"] < 4096, row
    assert rows["runtime"]["peak / runtime baseline"] == 1.0
    assert doc["ratios"]["hub-0 peak / runtime baseline"] > 0
    if "dashboard" in rows:
        assert doc["params"]["dashboard_sessions"]
