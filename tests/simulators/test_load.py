"""Load mode on a real broker: exactly the requested readings, each acknowledged and received."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from device_simulators import cli as simulate_cli
from device_simulators.load import load_device_ids, parse_rate, run_load
from telehub.config import get_settings
from telehub.errors import ValidationError
from tests.simulators.mqtt_helpers import Collector


def test_load_publishes_exactly_the_total_and_every_one_is_acknowledged(
        mqtt_url: str, topic_root: str) -> None:
    collector = Collector(mqtt_url, f"{topic_root}/devices/+/readings")
    result = run_load(mqtt_url, devices=7, readings=1000, topic_root=topic_root)
    assert result.published == result.acknowledged == result.requested == 1000
    received = collector.wait_for(1000)
    assert len(received) == 1000
    per_device: dict[str, list[int]] = defaultdict(list)
    for t, payload, _r in collector.messages:
        per_device[t.split("/")[-2]].append(json.loads(payload)["seq"])
    assert set(per_device) == set(load_device_ids(7))
    for seqs in per_device.values():
        assert sorted(seqs) == list(range(1, len(seqs) + 1))
    assert len({(r["id"], r["time"]) for r in received}) == 1000
    collector.close()


def test_load_holds_the_requested_rate(mqtt_url: str, topic_root: str) -> None:
    result = run_load(mqtt_url, devices=10, readings=400, rate=1000.0, topic_root=topic_root)
    assert result.acknowledged == 400
    assert result.seconds >= 0.35
    assert result.publish_rate <= 1200


def test_rates_are_parsed_and_bad_ones_refused() -> None:
    assert parse_rate("5000/s") == 5000.0
    assert parse_rate("250") == 250.0
    for bad in ("fast", "0/s", "-5/s"):
        with pytest.raises(ValidationError):
            parse_rate(bad)


def test_simulate_load_command_reports_what_it_published(
        mqtt_url: str, topic_root: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEHUB_MQTT_URL", mqtt_url)
    monkeypatch.setenv("TELEHUB_TOPIC_ROOT", topic_root)
    monkeypatch.setenv("TELEHUB_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Telehub."""

    simulate_cli.register(app)
    try:
        result = CliRunner().invoke(app, ["simulate", "--load", "--devices", "20", "--total",
                                          "500", "--rate", "5000/s"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    assert report["published"] == report["acknowledged"] == 500
    assert report["devices"] == 20
