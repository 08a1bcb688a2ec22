"""`telehub bench queries --reference DIR`: the caseload SQL and `GET /caseload` of this tree
and of another Telehub source tree (the code before a change), timed turn about in the same
run, with each API process's CPU per request: on a shared machine the load moves between two
runs more than most changes move the figures."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

from bench.api_server import ApiSession, serve_api
from bench.databases import Row
from bench.processes import cpu_seconds
from bench.report import Report, ratio, summarise

REFERENCE = "reference code: "


def reference_caseload_sql(source: str) -> str:
    """The caseload SQL of the source tree `source` (imported there, with its own imports);
    refused unless it came from that tree, not from the Telehub installed here."""
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from api.queries import caseload as c; "
                               "sys.stdout.write(c.__file__ + '\\n' + c.CASELOAD_SQL)"],
        cwd=source, capture_output=True, text=True, check=False, timeout=120)
    where, _, sql = done.stdout.partition("\n")
    if done.returncode != 0 or not sql.strip():
        raise RuntimeError(f"no caseload SQL in {source}: {done.stderr.strip()[-500:]}")
    if not Path(where).resolve().is_relative_to(Path(source).resolve()):
        raise RuntimeError(f"no caseload SQL in {source}: api.queries.caseload came from "
                           f"{where} (DIR must be a Telehub source tree)")
    return sql


def time_caseload_pair(conn: psycopg.Connection[Row], report: Report, url: str, team: int,
                       args: dict[str, Any], sql: str, source: str, reps: int, *,
                       http: bool, warmup: int = 2) -> None:
    """This tree's and `source`'s caseload SQL, then their `GET /caseload`, in turn."""
    report.params["reference"] = source
    queries = [sql, reference_caseload_sql(source)]
    samples: list[list[float]] = [[], []]
    rows = [0, 0]
    for i in range(warmup + reps):
        for k in (i % 2, 1 - i % 2):  # who goes first alternates
            started = time.perf_counter()
            rows[k] = len(conn.execute(queries[k], args).fetchall())
            if i >= warmup:
                samples[k].append(time.perf_counter() - started)
    sql_stats = [summarise(s) for s in samples]
    report.add(query="caseload (turn about)", rows=rows[0], **sql_stats[0])
    report.add(query=f"caseload, {REFERENCE}{source}", rows=rows[1], **sql_stats[1])
    report.ratios["caseload SQL / reference (turn about, median)"] = ratio(
        sql_stats[0]["median_ms"], sql_stats[1]["median_ms"])
    if http:
        _time_http_pair(report, url, team, source, reps, warmup, sql_stats)


def _time_http_pair(report: Report, url: str, team: int, source: str, reps: int,
                    warmup: int, sql_stats: list[dict[str, float]]) -> None:
    with serve_api(url, team) as this, serve_api(url, team, source) as reference:
        apis = [this, reference]
        samples: list[list[float]] = [[], []]
        cpu = [0.0, 0.0]
        rows = [0, 0]
        for i in range(warmup + reps):
            for k in (i % 2, 1 - i % 2):
                elapsed, used, rows[k] = _get_caseload(apis[k], team)
                if i >= warmup:
                    samples[k].append(elapsed)
                    cpu[k] += used
    stats = [summarise(s) for s in samples]
    labels = ["GET /caseload (HTTP, turn about)", f"GET /caseload, {REFERENCE}{source}"]
    for label, n, s in zip(labels, rows, stats, strict=True):
        report.add(query=label, rows=n, **s)
    cpu_ms = [round(c / reps * 1000, 1) for c in cpu]
    report.params["api_cpu_ms_per_caseload"] = cpu_ms[0]
    report.params["reference_api_cpu_ms_per_caseload"] = cpu_ms[1]
    report.ratios["GET /caseload / reference (turn about, median)"] = ratio(
        stats[0]["median_ms"], stats[1]["median_ms"])
    report.ratios["GET /caseload / its SQL (turn about, median)"] = ratio(
        stats[0]["median_ms"], sql_stats[0]["median_ms"])
    report.ratios["reference: GET /caseload / its SQL (median)"] = ratio(
        stats[1]["median_ms"], sql_stats[1]["median_ms"])
    report.ratios["API CPU per GET /caseload / reference"] = ratio(cpu_ms[0], cpu_ms[1])


def _get_caseload(api: ApiSession, team: int) -> tuple[float, float, int]:
    """Wall seconds of one GET /caseload (JSON decoded), the API process's CPU seconds for
    it, and its rows."""
    cpu_before = cpu_seconds(api.pid)
    started = time.perf_counter()
    answer = api.client.get("/caseload", params={"team_id": team})
    body = answer.json()
    elapsed = time.perf_counter() - started
    answer.raise_for_status()
    return elapsed, cpu_seconds(api.pid) - cpu_before, len(body["rows"])
