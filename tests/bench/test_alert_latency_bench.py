"""The alert-latency benchmark times breach → alert on the responders' topic against relay."""

from __future__ import annotations

import importlib.util
import json
import uuid
from pathlib import Path

import pytest

from bench import alert_latency
from bench.databases import drop_database
from bench.processes import command_available
from telehub.demo.embedded import mosquitto_binary

pytestmark = pytest.mark.skipif(mosquitto_binary() is None,
                                reason="the benchmark starts its own mosquitto")


def test_alert_latency_bench_reports_alert_and_relay_latency_idle_and_under_load(
        pg_admin_url: str, tmp_path: Path) -> None:
    if command_available("hub") is not None:
        pytest.skip("the hub is not installed")
    name = f"telehub_bench_t_{uuid.uuid4().hex[:12]}"
    sizes = alert_latency.AlertSizes(samples=3, background_rate=300, background_devices=20,
                                     timeout_s=8, warmup_s=1)
    try:
        report = alert_latency.run(pg_admin_url, sizes, database=name)
    finally:
        drop_database(pg_admin_url, name)

    doc = json.loads(report.write(tmp_path).read_text())
    assert doc["benchmark"] == "alert-latency"
    rows = {row["measure"]: row for row in doc["rows"]}
    assert rows["relay, idle"]["n"] == 3 and rows["relay, idle"]["median_ms"] > 0
    assert doc["params"]["alerts_raised"] >= 1   # the breach raised an alert in the database
    if importlib.util.find_spec("alerts.notifier") is None:
        assert rows["alert, idle"]["timeouts"] == 1
        assert "notifier" in doc["notes"][0]
        return
    assert list(rows) == ["relay, idle", "alert, idle", "relay, under load",
                          "alert, under load"]
    for kind in ("idle", "under load"):
        assert rows[f"alert, {kind}"]["n"] == 3 and rows[f"alert, {kind}"]["timeouts"] == 0
        assert rows[f"alert, {kind}"]["median_ms"] >= rows[f"relay, {kind}"]["min_ms"]
    assert doc["params"]["alerts_raised"] == 6 and doc["params"]["outbox_pending"] == 0
    assert doc["params"]["background_achieved_rate"] > 100
    assert doc["ratios"]["alert / relay, idle (median)"] > 1
