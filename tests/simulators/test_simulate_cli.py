"""`telehub seed --demo` then `telehub simulate --demo`, end to end on a real broker."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from device_simulators import cli as simulate_cli
from telehub.config import get_settings
from telehub.demo import seed
from telehub.domain.roster import load_caseload
from tests.simulators.mqtt_helpers import Collector


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Telehub."""

    seed.register(app)
    simulate_cli.register(app)
    return app


@pytest.fixture
def demo_env(db_url: str, mqtt_url: str, topic_root: str, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("TELEHUB_DATABASE_URL", db_url)
    monkeypatch.setenv("TELEHUB_MQTT_URL", mqtt_url)
    monkeypatch.setenv("TELEHUB_TOPIC_ROOT", topic_root)
    monkeypatch.setenv("TELEHUB_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_demo_simulation_backfills_30_days_once_and_then_fills_only_the_gap(
        demo_env: Path, mqtt_url: str, topic_root: str) -> None:
    runner = CliRunner()
    assert runner.invoke(_app(), ["seed", "--demo"]).exit_code == 0
    caseload = load_caseload(demo_env / "demo" / "caseload.toml")
    collector = Collector(mqtt_url, f"{topic_root}/devices/#")
    started = datetime.now(UTC)

    first = runner.invoke(_app(), ["simulate", "--demo", "--speed", "500000", "--once"])
    assert first.exit_code == 0, first.output
    readings = collector.settle()
    assert len(readings) > 3000
    times = [_iso(r["time"]) for r in readings if "time" in r]
    assert min(times) < started - timedelta(days=29)
    assert max(times) <= datetime.now(UTC)
    devices = {t.split("/")[-2] for t, _p, _r in collector.messages if t.endswith("/readings")}
    assert devices == {d.device_id for d in caseload.devices() if not d.telecare}
    # Telecare devices send events only: the falls of the `fall` scenarios (in the live
    # stretch) and perhaps a pendant press; never a smoke alarm.
    events = [(t.split("/")[-2], json.loads(p)) for t, p, _r in collector.messages
              if t.endswith("/events")]
    telecare = {d.device_id: d.kind for d in caseload.devices() if d.telecare}
    assert {d for d, _e in events} <= set(telecare)
    assert sorted(d for d, e in events if e["event"] == "fall") == sorted(
        d.device_id for p in caseload.patients if p.scenario == "fall" for d in p.devices
        if d.kind == "fall-detector")
    assert {e["event"] for _d, e in events} <= {"fall", "pendant"}
    # Each device's month of history arrived as store-and-forward batches.
    batched = {t.split("/")[-2] for t, p, _r in collector.messages
               if t.endswith("/readings") and p.startswith(b'{"readings"')}
    assert batched == devices
    # Only the devices of the device-offline scenario still keep readings: they are offline.
    offline = {d.device_id for p in caseload.patients if p.scenario == "device-offline"
               for d in p.devices}
    kept = sqlite3.connect(demo_env / "demo" / "simulator" / "devices.sqlite").execute(
        "SELECT DISTINCT device_id FROM pending").fetchall()
    assert {row[0] for row in kept} <= offline
    statuses = {t.split("/")[-2]: json.loads(p)["status"] for t, p, _r in collector.messages
                if t.endswith("/status")}
    assert all(statuses[d] == "offline" for d in offline)
    # The faulty devices sent some payloads the hub must refuse.
    faulty = {d.device_id for p in caseload.patients if p.scenario == "faulty-device"
              for d in p.devices}
    broken = {t.split("/")[-2] for t, p, _r in collector.messages
              if t.endswith("/readings") and not p.endswith(b"}")}
    assert broken and broken <= faulty
    marker = json.loads((demo_env / "demo" / "simulator" / "progress.json").read_text())
    assert _iso(marker["simulated_until"]) > started - timedelta(minutes=1)

    before = len(collector.settle())
    second = runner.invoke(_app(), ["simulate", "--demo", "--once"])
    assert second.exit_code == 0, second.output
    recorded = int(second.output.split("Recorded ")[1].split(" ")[0])
    assert recorded < 20          # only the minutes since the first run, not 30 days again
    assert len(collector.settle()) - before == recorded
    collector.close()


def test_simulate_needs_a_caseload_or_demo(demo_env: Path) -> None:
    result = CliRunner().invoke(_app(), ["simulate"])
    assert result.exit_code == 1
    assert "--caseload FILE or --demo" in result.output
    missing = CliRunner().invoke(_app(), ["simulate", "--demo"])
    assert missing.exit_code == 1 and "telehub seed --demo" in missing.output


def test_a_caseload_backfill_stays_inside_the_hubs_horizon(
        demo_env: Path, mqtt_url: str, topic_root: str) -> None:
    example = Path(__file__).parents[2] / "device_simulators" / "examples" / "caseload.toml"
    collector = Collector(mqtt_url, f"{topic_root}/devices/+/readings")
    started = datetime.now(UTC)
    result = CliRunner().invoke(_app(), ["simulate", "--caseload", str(example),
                                         "--backfill", "45d", "--speed", "1", "--once"])
    assert result.exit_code == 0, result.output
    assert "horizon" in result.output
    times = [_iso(r["time"]) for r in collector.settle() if "time" in r]
    assert times and min(times) > started - timedelta(days=30)
    assert min(times) < started - timedelta(days=29)
    collector.close()
