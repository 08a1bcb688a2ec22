"""The alert-burden benchmark counts alerts per 100 patient-days per rule and scenario for a
simulated caseload through a real hub and the engine, against the caseload kept stable."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import typer

from bench import alert_burden
from bench.alert_burden import Burden
from bench.cli import _variants
from bench.databases import drop_database
from bench.processes import command_available
from bench.report import Report
from telehub.demo.embedded import mosquitto_binary


def _alert(pid: int, rule: str, severity: str) -> dict[str, object]:
    return {"patient_id": pid, "episode": rule, "rule": rule, "severity": severity,
            "late": False}


def test_tabulate_counts_per_100_patient_days_by_rule_severity_and_scenario() -> None:
    scenarios = {1: "stable", 2: "stable", 3: "hf-decompensation", 4: "hf-decompensation"}
    engine = Burden("engine", patients=4, days=10, scenarios=scenarios, alerts=[
        _alert(3, "weight-gain-3d", "amber"), _alert(3, "weight-gain-3d", "amber"),
        _alert(4, "weight-gain-3d", "amber"), _alert(1, "missing-readings-info", "info")])
    stable = Burden("stable", patients=4, days=10, scenarios=scenarios, alerts=[
        _alert(1, "missing-readings-info", "info"), _alert(4, "missing-readings-info", "info")])
    report = Report("alert-burden", params={}, columns=alert_burden.COLUMNS)

    alert_burden.tabulate(report, {"engine": engine, "stable": stable})

    rows = {(r["group"], r["name"]): r for r in report.rows}
    assert rows[("all", "every alert")] == {"group": "all", "name": "every alert",
                                            "engine": 10.0, "stable": 5.0}
    assert rows[("rule", "weight-gain-3d")]["engine"] == 7.5      # 3 alerts / 40 patient-days
    assert rows[("rule", "weight-gain-3d")]["stable"] == 0.0
    assert rows[("severity", "info")]["stable"] == 5.0 and rows[("severity", "red")]["engine"] == 0
    # Per scenario the denominator is that scenario's patient-days (2 patients × 10 days).
    assert rows[("scenario", "hf-decompensation")]["engine"] == 15.0
    assert rows[("scenario", "stable")]["engine"] == 5.0
    assert rows[("scenario", "hf-decompensation")]["stable"] == 5.0
    assert [k for k, _ in rows if k == "rule"] == ["rule", "rule"]
    assert report.ratios == {"engine / stable baseline (all alerts)": 2.0}


def test_variants_option_refuses_unknown_names() -> None:
    assert _variants("engine, stable") == ("engine", "stable")
    with pytest.raises(typer.BadParameter, match="bogus"):
        _variants("hub,bogus")
    with pytest.raises(typer.BadParameter):
        _variants(" , ")


@pytest.mark.skipif(mosquitto_binary() is None, reason="the hub variant starts a mosquitto")
def test_alert_burden_bench_runs_a_caseload_through_the_hub_and_the_engine(
        pg_admin_url: str, tmp_path: Path) -> None:
    if command_available("hub") is not None:
        pytest.skip("the hub is not installed")
    name = f"telehub_bench_t_{uuid.uuid4().hex[:12]}"
    sizes = alert_burden.BurdenSizes(patients=12, days=3, stall_s=20)
    try:
        report = alert_burden.run(pg_admin_url, sizes, database=name)
    finally:
        drop_database(pg_admin_url, name)

    doc = json.loads(report.write(tmp_path).read_text())
    assert doc["benchmark"] == "alert-burden" and doc["notes"] == []
    params = doc["params"]
    assert params["patient_days"] == 36
    hub, engine, stable = params["hub"], params["engine"], params["stable"]
    # The same caseload went both ways, and the hub stored every reading (else a note).
    assert hub["readings"] == engine["readings"] > 12
    assert stable["readings"] > 0
    assert hub["alerts"] > 0 and engine["alerts"] > 0
    assert hub["late"] == 0      # freshness widened: no reading was taken for a late one
    rows = {(r["group"], r["name"]): r for r in doc["rows"]}
    for variant in ("hub", "engine", "stable"):
        total = params[variant]["alerts"]
        assert rows[("all", "every alert")][variant] == round(100 * total / 36, 2)
        by_rule = sum(r[variant] for (g, _), r in rows.items() if g == "rule")
        assert by_rule == pytest.approx(100 * total / 36, abs=0.05)
        by_severity = sum(rows[("severity", s)][variant] for s in ("red", "amber", "info"))
        assert by_severity == pytest.approx(100 * total / 36, abs=0.05)
    # The clinical scenario book went through the hub's batch transaction at every anchor:
    # it raised exactly what it expects (a miss or noise would be a note).
    book = params["book"]
    assert book["scenarios"] >= 60 and book["anchors"] == 6
    assert book["raised"] == book["expected"] > 0
    raised, expected = rows[("book", "2026-11-26 18:50 red")]["book"].split(" / ")
    assert raised == expected and int(expected) > 0
