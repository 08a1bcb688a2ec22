"""Debian's Prometheus with the shipped scrape configuration and rules, pointed at a real hub
and the real API: both targets are up, every rule evaluates without error on what they
export, and stopping the hub puts TelehubHubDown in pending."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from telehub.config import Settings
from telehub.demo.embedded import free_port
from tests.dashboard.conftest import serving_api
from tests.ingest.conftest import Caseload
from tests.monitoring.promql import PROMETHEUS, RULES
from tests.monitoring.scraping import TEAM
from tests.reliability.harness import Hub

PROMETHEUS_BIN = shutil.which("prometheus") or (
    "/usr/bin/prometheus" if Path("/usr/bin/prometheus").is_file() else None)
pytestmark = pytest.mark.skipif(
    PROMETHEUS_BIN is None, reason="prometheus is not installed here (apt-get install prometheus)")

# Scrape and evaluate every second so the test sees several rounds within seconds.
TEST_INTERVAL = "1s"


def _config(tmp: Path, hub_port: int, api_port: int) -> Path:
    """The shipped prometheus.yml with the test's targets, a 1 s interval and no
    Alertmanager (none runs here): everything else as shipped."""
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    config["global"].update(scrape_interval=TEST_INTERVAL, evaluation_interval=TEST_INTERVAL,
                            scrape_timeout=TEST_INTERVAL)
    config["rule_files"] = [str(RULES)]
    config.pop("alerting", None)
    targets = {"telehub-hub": f"127.0.0.1:{hub_port}", "telehub-api": f"127.0.0.1:{api_port}"}
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def api_port(settings: Settings) -> Iterator[int]:
    """The real API on the test's database."""
    with serving_api(settings) as url:
        yield int(url.rsplit(":", 1)[1])


@pytest.fixture
def prometheus(tmp_path: Path, hub: Hub, api_port: int) -> Iterator[str]:
    """Prometheus on a free loopback port with its data in the test's directory; its URL."""
    assert PROMETHEUS_BIN is not None
    port = free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [PROMETHEUS_BIN, f"--config.file={_config(tmp_path, hub.metrics_port, api_port)}",
         f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _until(lambda: _ready(url), "Prometheus ready", proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _until(check: Callable[[], Any], what: str, proc: subprocess.Popen[bytes] | None = None,
           timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"prometheus exited ({proc.returncode}) before: {what}")
        found = check()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"{what} did not happen within {timeout:g} s")


def _api(url: str, path: str, **params: str) -> Any:
    body = httpx.get(f"{url}/api/v1/{path}", params=params, timeout=5).json()
    assert body["status"] == "success", body
    return body["data"]


def test_prometheus_scrapes_the_hub_and_api_and_evaluates_every_rule(
        prometheus: str, hub: Hub, caseload: Caseload) -> None:
    def both_up() -> bool:
        targets = _api(prometheus, "targets")["activeTargets"]
        return len(targets) == 2 and all(t["health"] == "up" for t in targets)

    _until(both_up, "both targets scraped")

    def rules_evaluated() -> list[dict[str, Any]] | None:
        groups = _api(prometheus, "rules")["groups"]
        found = [r for g in groups for r in g["rules"]]
        return found if found and all(r.get("lastEvaluation", "").startswith("2")
                                      and r["health"] != "unknown" for r in found) else None

    evaluated = _until(rules_evaluated, "every rule evaluated")
    assert {r["name"] for r in evaluated} >= {"TelehubHubDown", "TelehubNoReadingsFromTeam"}
    assert all(r["health"] == "ok" and not r.get("lastError") for r in evaluated), evaluated

    # The team figures reach Prometheus labelled by team code.
    series = _api(prometheus, "query", query="telehub_team_monitored_patients")["result"]
    assert {s["metric"]["team"]: float(s["value"][1]) for s in series} == {TEAM: 1.0}

    # The hub stops: its target goes down and TelehubHubDown is pending (it fires after 2 min).
    hub.stop()

    def hub_down_pending() -> bool:
        alerts = _api(prometheus, "alerts")["alerts"]
        return any(a["labels"]["alertname"] == "TelehubHubDown" and a["state"] == "pending"
                   and a["labels"]["instance"] == f"127.0.0.1:{hub.metrics_port}"
                   for a in alerts)

    _until(hub_down_pending, "TelehubHubDown pending for the stopped hub")
