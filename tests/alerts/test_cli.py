"""`telehub thresholds show|set` and `telehub alerts list` through typer's CliRunner."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, timedelta

import pytest
import typer
from click.testing import Result
from typer.testing import CliRunner

from alerts.cli import register
from telehub.config import get_settings
from telehub.domain.clock import FixedClock, use_clock
from telehub.domain.units import Metric
from tests.alerts.conftest import NOW, Clinic
from tests.clock_anchors import ANCHORS

DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)

# Other processes (hub, notifier, scheduler, CLI) read this module's data: it commits.
COMMITS = True


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[CliRunner, typer.Typer]]:
    monkeypatch.setenv("TELEHUB_DATABASE_URL", db_url)
    get_settings.cache_clear()
    app = typer.Typer()
    register(app)
    yield CliRunner(), app
    get_settings.cache_clear()


def test_put_a_patient_on_scale_2_from_the_command_line(
        clinic: Clinic, cli: tuple[CliRunner, typer.Typer]) -> None:
    runner, app = cli
    pid = clinic.patient(["copd"])
    clinic.conn.commit()
    nhs = clinic.nhs[pid]
    result = runner.invoke(app, ["thresholds", "set", "--patient", nhs, "--spo2-scale", "2",
                                 "--reason", "Hypercapnic, target 88-92 %", "--by", "Dr Lee"])
    assert result.exit_code == 0, result.output
    shown = runner.invoke(app, ["thresholds", "show", "--patient", nhs, "--json", "--all"])
    rows = {r["id"]: r for r in json.loads(shown.output)}
    assert rows["spo2-scale"]["effective"] == {"scale": 2}
    assert rows["spo2-scale"]["set_by_name"] == "Dr Lee"
    assert rows["spo2-scale2-red"]["applies"] and not rows["spo2-scale1-red"]["applies"]
    # Takes effect on the next reading: 89 % no longer alerts.
    clinic.feed(pid, Metric.SPO2, 89, NOW)
    assert clinic.alerts(pid) == []


def test_set_a_rule_parameter(clinic: Clinic, cli: tuple[CliRunner, typer.Typer]) -> None:
    runner, app = cli
    pid = clinic.patient(["heart-failure"])
    clinic.conn.commit()
    result = runner.invoke(app, ["thresholds", "set", "--patient", clinic.nhs[pid], "--rule",
                                 "weight-above-dry", "--param", "dry_weight_kg=71.5",
                                 "--reason", "Dry weight after admission", "--by", "Dr Lee"])
    assert result.exit_code == 0, result.output
    shown = runner.invoke(app, ["thresholds", "show", "--patient", clinic.nhs[pid]])
    assert "dry weight 71.5 kg" in shown.output and "Dry weight after admission" in shown.output


BAD_ARGS = [
    ["--rule", "no-such-rule", "--param", "x=1"],
    ["--rule", "pulse-amber", "--param", "at_or_above"],
    ["--rule", "pulse-amber", "--param", "at_or_above=fast"],
    ["--spo2-scale", "3"],
    ["--rule", "pulse-amber"],
]


def test_bad_input_is_a_clear_error(clinic: Clinic, cli: tuple[CliRunner, typer.Typer]) -> None:
    runner, app = cli
    pid = clinic.patient([])
    clinic.conn.commit()
    for args in BAD_ARGS:
        result = runner.invoke(app, ["thresholds", "set", "--patient", clinic.nhs[pid],
                                     "--reason", "Because", *args])
        assert result.exit_code != 0, args
        assert "error" in result.output.lower(), args
    assert clinic.conn.execute("SELECT count(*) AS n FROM thresholds").fetchone() == {"n": 0}


def test_unknown_patient(cli: tuple[CliRunner, typer.Typer]) -> None:
    runner, app = cli
    result = runner.invoke(app, ["thresholds", "show", "--patient", "9434765919"])
    assert result.exit_code == 1 and "No patient" in result.output


def test_alerts_list(clinic: Clinic, cli: tuple[CliRunner, typer.Typer]) -> None:
    runner, app = cli
    a, b = clinic.patient([]), clinic.patient([])
    clinic.feed(a, Metric.SPO2, 88, NOW)
    clinic.feed(b, Metric.PULSE, 115, NOW)
    clinic.conn.commit()
    result = runner.invoke(app, ["alerts", "list"])
    assert result.exit_code == 0
    assert result.output.index("RED") < result.output.index("AMBER")
    assert "88 %" in result.output
    only_b = json.loads(runner.invoke(app, ["alerts", "list", "--patient", clinic.nhs[b],
                                            "--json"]).output)
    assert [r["rule"] for r in only_b] == ["pulse"]
    assert only_b[0]["severity"] == "amber" and only_b[0]["patient"].startswith("TH-")


def _set(runner: CliRunner, app: typer.Typer, nhs: str, *params: str) -> Result:
    args = ["thresholds", "set", "--patient", nhs, "--rule", "glucose-hypo-severe",
            "--reason", "Hypo unaware: act earlier", "--by", "Dr Lee"]
    for param in params:
        args += ["--param", param]
    return runner.invoke(app, args)


def test_a_glucose_limit_without_its_unit_is_refused_naming_the_units(
        clinic: Clinic, cli: tuple[CliRunner, typer.Typer]) -> None:
    runner, app = cli
    pid = clinic.patient(["type1-diabetes"])
    clinic.conn.commit()
    result = _set(runner, app, clinic.nhs[pid], "below=3.5")
    assert result.exit_code == 1
    assert "needs its unit" in result.output and "mmol/L, mg/dL" in result.output
    for implausible in ("below=35 mmol/L", "below=3.5 mg/dL", "below=3.5 %"):
        result = _set(runner, app, clinic.nhs[pid], implausible)
        assert result.exit_code == 1 and "error" in result.output, implausible
    assert "not a plausible low blood glucose limit" in _set(
        runner, app, clinic.nhs[pid], "below=3.5 mg/dL").output
    assert clinic.conn.execute("SELECT count(*) AS n FROM thresholds").fetchone() == {"n": 0}


def test_a_glucose_limit_with_its_unit_is_stored_in_the_rules_unit_and_shown_in_mmol(
        clinic: Clinic, cli: tuple[CliRunner, typer.Typer]) -> None:
    runner, app = cli
    pid = clinic.patient(["type1-diabetes"])
    clinic.conn.commit()
    nhs = clinic.nhs[pid]
    result = _set(runner, app, nhs, "below=3.5 mmol/L")
    assert result.exit_code == 0, result.output
    assert "below 3.5 mmol/L (63 mg/dL)" in result.output
    shown = runner.invoke(app, ["thresholds", "show", "--patient", nhs])
    line = next(x for x in shown.output.splitlines() if x.startswith("glucose-hypo-severe"))
    assert "below 3.5 mmol/L (63 mg/dL)" in line and "individual: below 3.5 mmol/L" in line
    clinic.feed(pid, Metric.GLUCOSE, 2.7, NOW)
    alert = clinic.alert(pid, "glucose-low")
    assert alert is not None and alert["severity"] == "red"
    assert _set(runner, app, nhs, "below=63mg/dL").exit_code == 0
    row = clinic.conn.execute("SELECT params FROM thresholds WHERE patient_id = %s AND "
                              "superseded_at IS NULL", (pid,)).fetchone()
    assert row == {"params": {"below": 63}}


def test_a_temporary_threshold_from_the_command_line(
        clinic: Clinic, cli: tuple[CliRunner, typer.Typer]) -> None:
    runner, app = cli
    pid = clinic.patient(["copd"])
    clinic.conn.commit()
    nhs = clinic.nhs[pid]
    at = ANCHORS[1]                                   # 26 Nov 2026, 12:00 in London
    args = ["thresholds", "set", "--patient", nhs, "--rule", "spo2-scale1-red", "--param",
            "at_or_below=88", "--reason", "After this exacerbation", "--by", "Matron Jones"]
    with use_clock(FixedClock(at)):
        for bad in ("soon", "2026-11-25", "120d"):
            result = runner.invoke(app, [*args, "--until", bad])
            assert result.exit_code == 2 and "error" in result.output, bad
        result = runner.invoke(app, [*args, "--until", "2026-12-10"])
        assert result.exit_code == 0, result.output
        assert "until 11 Dec 2026 00:00" in result.output
        result = runner.invoke(app, [*args, "--until", "14d", "--json"])
        assert json.loads(result.output)["ends_at"] == str(at.astimezone(UTC) + 14 * DAY)
        shown = runner.invoke(app, ["thresholds", "show", "--patient", nhs])
    line = next(x for x in shown.output.splitlines() if x.startswith("spo2-scale1-red"))
    assert "individual until 2026-12-10 12:00 UTC" in line
    end = at + 14 * DAY
    clinic.feed(pid, Metric.SPO2, 89, end - 60 * SECOND)
    assert clinic.alert(pid, "spo2-low")["severity"] == "amber"  # type: ignore[index]
    clinic.feed(pid, Metric.SPO2, 89, end)
    assert clinic.alert(pid, "spo2-low")["severity"] == "red"  # type: ignore[index]
