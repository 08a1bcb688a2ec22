"""The Prometheus alert rules: promtool accepts them and their unit tests pass, each alert is
named, labelled and annotated as the operations guide expects, and the PromQL tokenizer the
metrics check relies on finds every name."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.monitoring.promql import (
    DASHBOARD,
    PROMETHEUS,
    RULES,
    dashboard_expressions,
    metric_names,
    rule_expressions,
    rules,
)

PROMTOOL = shutil.which("promtool") or (
    "/usr/bin/promtool" if Path("/usr/bin/promtool").is_file() else None)
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed here (apt-get install prometheus)")

ALERTS = {"TelehubHubDown", "TelehubIngestBacklog", "TelehubOutboxUndelivered",
          "TelehubNoReadingsFromTeam", "TelehubDatabaseUnreachable",
          "TelehubSignInFailuresSpiking"}
SEVERITIES = {"critical", "warning"}
RULE_TESTS = sorted((PROMETHEUS / "tests").glob("*.yml"))


def _promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *map(str, args)], capture_output=True, text=True,
                          timeout=120, check=False)


@needs_promtool
def test_promtool_accepts_the_rules_and_the_scrape_config() -> None:
    rules_check = _promtool("check", "rules", RULES)
    assert rules_check.returncode == 0, rules_check.stdout + rules_check.stderr
    assert f"{len(ALERTS)} rules found" in rules_check.stdout
    config = _promtool("check", "config", PROMETHEUS / "prometheus.yml")
    assert config.returncode == 0, config.stdout + config.stderr


@needs_promtool
def test_promtool_rule_unit_tests_pass() -> None:
    assert RULE_TESTS
    result = _promtool("test", "rules", *RULE_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_rule_unit_tests_fail_when_the_rules_are_wrong(tmp_path: Path) -> None:
    """The unit tests can fail: with the team rule open all night and blind to the length of
    the night, and with the backlog and outbox thresholds raised, promtool reports failures."""
    text = RULES.read_text()
    opens = "vector(time()) >= scalar(max(telehub_service_day_opens_timestamp_seconds))"
    broken = (text.replace(opens, "vector(time()) >= 0")
              .replace("telehub_ingest_oldest_unacked_seconds) > 60",
                       "telehub_ingest_oldest_unacked_seconds) > 600")
              .replace("telehub_outbox_oldest_undelivered_seconds) > 60",
                       "telehub_outbox_oldest_undelivered_seconds) > 600"))
    assert broken != text
    (tmp_path / "tests").mkdir()
    (tmp_path / RULES.name).write_text(broken)
    for test in RULE_TESTS:
        shutil.copy(test, tmp_path / "tests" / test.name)
    result = _promtool("test", "rules", *sorted((tmp_path / "tests").glob("*.yml")))
    assert result.returncode != 0
    out = result.stdout + result.stderr
    for alert in ("TelehubNoReadingsFromTeam", "TelehubIngestBacklog",
                  "TelehubOutboxUndelivered"):
        assert f"alertname: {alert}" in out


@needs_promtool
def test_the_team_rule_counts_the_real_night_on_clock_change_mornings(tmp_path: Path) -> None:
    """Taking a fixed 12 h night off instead of the service day's own bounds fails the
    clock-change cases (13 h in autumn, 11 h in spring) and only those."""
    text = RULES.read_text()
    fixed_night = text.replace(
        "scalar(max(telehub_service_day_previous_close_timestamp_seconds))",
        "scalar(max(telehub_service_day_opens_timestamp_seconds)) - 12 * 3600")
    assert fixed_night != text
    (tmp_path / "tests").mkdir()
    (tmp_path / RULES.name).write_text(fixed_night)
    shutil.copy(PROMETHEUS / "tests" / "team.yml", tmp_path / "tests" / "team.yml")
    result = _promtool("test", "rules", tmp_path / "tests" / "team.yml")
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "autumn clock change" in out and "spring clock change" in out
    assert "Greenwich Mean Time, 6 h" not in out and "British Summer Time the" not in out


def test_every_alert_is_there_with_severity_summary_description_and_runbook() -> None:
    found = rules()
    assert {r["alert"] for r in found} == ALERTS
    for rule in found:
        labels, notes = rule["labels"], rule["annotations"]
        assert isinstance(labels, dict) and isinstance(notes, dict)
        assert labels["severity"] in SEVERITIES, rule["alert"]
        assert notes["summary"] and notes["description"], rule["alert"]
        assert notes["runbook_url"] == f"docs/operations.md#{str(rule['alert']).lower()}"


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    text = "\n".join(t.read_text() for t in RULE_TESTS)
    for alert in ALERTS:
        block = [part for part in text.split("alertname: ")[1:] if part.startswith(alert)]
        assert any("exp_alerts: []" in part for part in block), f"{alert} never quiet"
        assert any("exp_labels" in part.split("alertname")[0] for part in block), \
            f"{alert} never fires"


def test_the_tokenizer_finds_metric_names_and_nothing_else() -> None:
    expr = ('histogram_quantile(0.95, sum by (le, route) (rate('
            'telehub_api_request_seconds_bucket{job="telehub-api", route!~"/me.*"}'
            '[$__rate_interval])))'
            ' / on (job) group_left() max without (instance) (up offset 5m) > bool 3 and '
            'hour(vector(time())) >= 8')
    assert metric_names(expr) == {"telehub_api_request_seconds_bucket", "up"}


def test_every_rule_and_panel_queries_at_least_one_metric() -> None:
    assert DASHBOARD.is_file()
    queries = {**rule_expressions(), **dashboard_expressions()}
    assert len(queries) > len(ALERTS)
    for where, expr in queries.items():
        assert metric_names(expr), where


# What an operator's dashboard must show, and a metric each panel of it must read.
DASHBOARD_SHOWS = {
    "readings per second": "telehub_ingest_readings_stored_total",
    "rejections by reason": "telehub_ingest_rejected_total",
    "batch latency": "telehub_ingest_batch_seconds_bucket",
    "writer queue depth": "telehub_ingest_queue_depth",
    "alerts raised by severity": "telehub_alerts_opened_total",
    "undelivered notifications": "telehub_outbox_oldest_undelivered_seconds",
    "API request latency": "telehub_api_request_seconds_bucket",
    "sign-in failures": "telehub_api_signin_failures_total",
    "last reading per team": "telehub_team_last_reading_timestamp_seconds",
}


def test_the_dashboard_shows_what_an_operator_needs_in_panels_that_do_not_overlap() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    read = set().union(*(metric_names(e) for e in dashboard_expressions().values()))
    assert {what for what, name in DASHBOARD_SHOWS.items() if name not in read} == set()
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        mine = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"])
                for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not mine & cells, f"{panel['title']} overlaps another panel"
        cells |= mine
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
