"""The queries benchmark generates its history by COPY and times each query against a baseline."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import psycopg

from bench import queries
from bench.api_server import api_missing
from bench.databases import drop_database, with_database


def test_queries_bench_generates_history_and_reports_each_query_with_its_baseline(
        pg_admin_url: str, tmp_path: Path) -> None:
    name = f"telehub_bench_t_{uuid.uuid4().hex[:12]}"
    sizes = queries.QuerySizes(patients=24, days=12, team_size=10, reps=3)
    try:
        report = queries.run(pg_admin_url, sizes, database=name)
        again = queries.run(pg_admin_url, sizes, database=name)
        with psycopg.connect(with_database(pg_admin_url, name)) as conn:
            stored = conn.execute("SELECT count(*), count(DISTINCT patient_id) FROM readings"
                                  ).fetchone()
            violations = conn.execute(
                "SELECT count(*) FROM readings r LEFT JOIN devices d ON d.id = r.device_id "
                "WHERE d.patient_id IS DISTINCT FROM r.patient_id").fetchone()
    finally:
        drop_database(pg_admin_url, name)

    doc = json.loads(report.write(tmp_path).read_text())
    assert doc["benchmark"] == "queries"
    assert {"machine", "params", "rows", "ratios", "started_at"} <= doc.keys()
    assert stored is not None and violations is not None
    # 24 patients × 12 days × (weight + 2 × SpO2/pulse) plus glucose for every fourth,
    # less the few who stopped sending.
    assert doc["params"]["readings"] == stored[0]
    assert 24 * 12 * 5 * 0.8 < stored[0] <= 24 * 12 * 5 + 6 * 12 * 2
    assert stored[1] == 24
    assert violations[0] == 0            # every reading is from its patient's own device
    assert doc["params"]["generated_this_run"] is True
    assert again.params["generated_this_run"] is False and again.params["readings"] == stored[0]
    rows = {row["query"].strip(): row for row in doc["rows"]}
    sql_rows = [row for row in doc["rows"]
                if not row["query"].startswith(("GET", "late_reading"))]
    names = [row["query"] for row in sql_rows]
    timed = ["caseload", "chart_1y_daily", "team_stats_7d"]
    if queries.team_stats_queries() is not None:
        timed.append("team_stats_90d")
    assert names[0::2] == timed
    assert all(name.strip().startswith("baseline") for name in names[1::2])
    assert all(row["n"] == 3 and row["median_ms"] > 0 for row in doc["rows"])
    assert rows["caseload"]["rows"] == 10        # one caseload row per patient of the team
    assert rows["chart_1y_daily"]["rows"] == 12  # one chart point per day
    assert rows.get("team_stats_90d", {"rows": 1})["rows"] == 1   # one team's figures
    expected = {f"{q} / baseline (median)" for q in timed}
    expected.add("late reading 60d / 2d old (median)")
    late = [row["query"].split(" ")[0] for row in doc["rows"]
            if row["query"].startswith("late_reading")]
    assert late == ["late_reading_2d", "late_reading_60d"]
    assert doc["params"]["chart_sql"].startswith("api" if api_missing() is None else "bench")
    if api_missing() is None:
        assert doc["params"]["caseload_sql"].startswith("api")
        assert rows["GET /caseload (HTTP, JSON decoded)"]["rows"] == 10
        expected |= {"GET /caseload / caseload SQL (median)", "GET /caseload / baseline (median)"}
    assert set(doc["ratios"]) == expected
    assert all(v is not None and v > 0 for v in doc["ratios"].values())
