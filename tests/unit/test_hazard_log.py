"""The clinical safety case holds: every control's tests exist, every catalogue rule has a
hazard, no residual risk is above its initial risk, and `telehub safety report` renders."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from alerts.catalogue import load_catalogue
from alerts.safety_case import (
    HAZARD_LOG,
    Rating,
    load_hazard_log,
    missing_tests,
    problems,
    render_html,
    render_markdown,
)
from alerts.scenario_book import load_book
from telehub.errors import ConfigError


def test_every_control_names_tests_that_exist_and_every_rule_has_a_hazard() -> None:
    log = load_hazard_log()
    assert len(log.hazards) >= 12
    assert problems(log, (r.id for r in load_catalogue().rules)) == []


def test_a_control_naming_a_missing_test_and_an_uncovered_rule_are_caught(tmp_path: Path) -> None:
    text = HAZARD_LOG.read_text(encoding="utf-8").replace(
        "tests/alerts/test_engine_bands.py::test_spo2_scale1_bands",
        "tests/alerts/test_engine_bands.py::test_that_was_renamed", 1)
    path = tmp_path / "log.toml"
    path.write_text(text, encoding="utf-8")
    log = load_hazard_log(path)
    assert missing_tests(log) == [
        "HAZ-01: tests/alerts/test_engine_bands.py::test_that_was_renamed"]
    found = problems(log, [*(r.id for r in load_catalogue().rules), "a-new-rule"])
    assert "rule a-new-rule has no hazard" in found


def test_the_dcb0129_matrix() -> None:
    assert Rating("catastrophic", "very high").risk == 5
    assert Rating("minor", "very low").risk == 1
    assert Rating("major", "medium").risk == 3
    assert Rating("considerable", "low").risk == 2


def test_a_bad_rating_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "log.toml"
    path.write_text('[[hazard]]\nid = "H"\ntitle = "t"\ndescription = "d"\neffects = "e"\n'
                    'initial = { severity = "awful", likelihood = "low" }\n'
                    'residual = { severity = "minor", likelihood = "low" }\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="severity must be one of"):
        load_hazard_log(path)


def test_the_report_lists_every_hazard_with_its_tests_in_markdown_and_html() -> None:
    log = load_hazard_log()
    text = render_markdown(log)
    for hazard in log.hazards:
        assert f"## {hazard.id} {hazard.title}" in text
    assert "tests/alerts/test_engine_bands.py::test_spo2_scale1_bands" in text
    page = render_html(text)
    assert page.startswith("<!doctype html>") and "<h2>HAZ-01 Missed deterioration</h2>" in page
    assert "<script" not in page


def test_the_report_lists_the_scenario_book_and_what_was_decided_where_rules_are_silent() -> None:
    scenarios = load_book()
    text = render_markdown(load_hazard_log(), scenarios=scenarios)
    assert "## Clinical scenario book" in text and f"{len(scenarios)} scenarios" in text
    assert "| SPO2-01 | Scale 1: 91 % is red | spo2-scale1-red red |" in text
    decided = text[text.index("Decided where CLINICAL_RULES.md is silent"):]
    assert all(f"- {s.id}: " in decided for s in scenarios if s.decided)
    assert "<td>GLUC-15</td>" in render_html(text)


def test_telehub_safety_report_renders(tmp_path: Path) -> None:
    out = tmp_path / "safety.html"
    done = subprocess.run([sys.executable, "-m", "telehub", "safety", "report", "--format",
                           "html", "--out", str(out)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "HAZ-10" in out.read_text(encoding="utf-8")
