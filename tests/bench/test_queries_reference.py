"""`telehub bench queries --reference DIR` times another source tree's caseload turn about."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from bench import queries
from bench.caseload_reference import REFERENCE, reference_caseload_sql
from bench.databases import drop_database

TREE = Path(__file__).resolve().parents[2]


def test_a_reference_tree_runs_its_own_caseload_beside_this_one(pg_admin_url: str) -> None:
    # This tree as its own reference: both sides answer the same caseload.
    name = f"telehub_bench_t_{uuid.uuid4().hex[:12]}"
    # Enough requests that each API's CPU shows: the kernel counts it in 10 ms clock ticks.
    sizes = queries.QuerySizes(patients=16, days=9, team_size=8, reps=12)
    try:
        report = queries.run(pg_admin_url, sizes, database=name, reference=str(TREE))
    finally:
        drop_database(pg_admin_url, name)
    rows = {row["query"]: row for row in report.rows}
    pairs = [("caseload (turn about)", f"caseload, {REFERENCE}{TREE}"),
             ("GET /caseload (HTTP, turn about)", f"GET /caseload, {REFERENCE}{TREE}")]
    for ours, theirs in pairs:
        assert rows[ours]["rows"] == rows[theirs]["rows"] == 8
        assert rows[ours]["n"] == rows[theirs]["n"] == 12
    cpu = [report.params["api_cpu_ms_per_caseload"],
           report.params["reference_api_cpu_ms_per_caseload"]]
    assert all(c >= 0 for c in cpu) and sum(cpu) > 0, cpu
    assert report.ratios["GET /caseload / reference (turn about, median)"] > 0
    assert report.ratios["caseload SQL / reference (turn about, median)"] > 0


def test_a_tree_without_the_api_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="no caseload SQL in"):
        reference_caseload_sql(str(tmp_path))
