"""Benchmark reports: percentiles, ratios and the JSON every benchmark writes."""

from __future__ import annotations

import json
from pathlib import Path

from bench.report import Report, ratio, summarise


def test_summarise_reports_milliseconds_and_nearest_rank_percentiles() -> None:
    samples = [i / 1000 for i in range(1, 101)]      # 1 ms … 100 ms
    stats = summarise(list(reversed(samples)))
    assert stats["n"] == 100
    assert stats["median_ms"] == 50.5
    assert stats["p95_ms"] == 95.0 and stats["p99_ms"] == 99.0
    assert (stats["min_ms"], stats["max_ms"]) == (1.0, 100.0)
    assert summarise([]) == {}


def test_ratio_is_missing_rather_than_infinite_or_zero() -> None:
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(None, 2.0) is None and ratio(3.0, 0) is None and ratio(0, 2.0) is None


def test_report_writes_timestamped_and_latest_json(tmp_path: Path) -> None:
    report = Report("demo", params={"size": 3}, columns=["name", "value"])
    report.add(name="a", value=1.25)
    report.ratios["a / b"] = 2.0
    path = report.write(tmp_path)
    doc = json.loads(path.read_text())
    assert path.name.startswith("demo-") and path.name.endswith("Z.json")
    assert json.loads((tmp_path / "demo-latest.json").read_text()) == doc
    assert doc["rows"] == [{"name": "a", "value": 1.25}] and doc["ratios"] == {"a / b": 2.0}
    assert doc["machine"]["cpus"] >= 1 and doc["params"] == {"size": 3}

