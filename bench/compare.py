"""`telehub bench queries --compare-url`: the same history and queries on two servers.

Run with one server that has TimescaleDB and one that has not, it reports each query on
both paths and their ratio, and checks that both paths answer the same: the generated
readings are equal in number, the daily charts of a sample of patients are equal, and so
are the API's 90-day team statistics of every team.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from typing import Any

from bench import queries
from bench.databases import connect, with_database
from bench.report import Report, ratio
from telehub.domain.clock import SERVICE_ZONE_NAME

PATHS = {True: "timescaledb", False: "postgresql"}
_SAMPLE_PATIENTS = 20


def run_compare(admin_url: str, compare_url: str, sizes: queries.QuerySizes, *,
                database: str, rebuild: bool = False, seed: int = 8) -> Report:
    """The queries benchmark on `admin_url`, then on `compare_url`, side by side."""
    runs = [queries.run(url, sizes, database=database, rebuild=rebuild, seed=seed, http=False)
            for url in (admin_url, compare_url)]
    paths = [PATHS[bool(r.params.get("timescaledb"))] for r in runs]
    report = Report(
        "queries-compare",
        params={"patients": sizes.patients, "days": sizes.days, "team_size": sizes.team_size,
                "reps": sizes.reps, "database": database, "paths": paths,
                "readings": [r.params["readings"] for r in runs],
                "as_of": [r.params["as_of"] for r in runs],
                "generated_this_run": [r.params["generated_this_run"] for r in runs],
                "generate_s": [r.params["generate_s"] for r in runs]},
        columns=["query", "path", "rows", "median_ms", "p95_ms", "max_ms"],
    )
    by_query = [{row["query"]: row for row in r.rows} for r in runs]
    for name in by_query[0]:
        pair = [rows.get(name) for rows in by_query]
        for path, row in zip(paths, pair, strict=True):
            if row is not None:
                report.add(**{**row, "path": path})
        if paths[0] != paths[1] and all(pair) and not name.startswith(" "):
            ts, pg = (pair[0], pair[1]) if paths[0] == "timescaledb" else (pair[1], pair[0])
            assert ts is not None and pg is not None
            report.ratios[f"{name}: timescaledb / postgresql (median)"] = ratio(
                ts["median_ms"], pg["median_ms"])
    for r in runs:
        path = PATHS[bool(r.params.get("timescaledb"))]
        report.ratios.update({f"{path}: {k}": v for k, v in r.ratios.items()})
        report.notes.extend(r.notes)
    urls = [with_database(u, database) for u in (admin_url, compare_url)]
    same = same_charts(urls, runs[0].params["as_of"], random.Random(seed))
    stats = same_team_stats(urls, runs[0].params["as_of"])
    report.params["same_team_stats"] = stats
    report.params["same_results"] = (same and stats is not False
                                     and len(set(report.params["readings"])) == 1)
    report.params["readings_mb"] = [r.params.get("readings_mb") for r in runs]
    report.notes.append("same readings, the same 1-year charts and the same "
                        f"{queries.STATS_DAYS}-day team statistics on both: "
                        + ("yes" if report.params["same_results"] else "NO"))
    report.notes.append("readings on disk (table and indexes, MB): " + ", ".join(
        f"{p} {mb}" for p, mb in zip(paths, report.params["readings_mb"], strict=True)))
    if paths[0] == paths[1]:
        report.notes.append(f"both servers take the {paths[0]} path: no path ratio")
    report.notes.append("the two servers were timed one after the other on a shared machine")
    return report


def same_charts(urls: list[str], as_of: str, rng: random.Random) -> bool:
    """True when a sample of patients' 1-year daily charts are equal on every URL."""
    chart, _ = queries.chart_query()
    day = datetime.fromisoformat(as_of).replace(tzinfo=UTC)
    answers: list[list[list[dict[str, Any]]]] = []
    sample: list[int] | None = None
    for url in urls:
        with connect(url, autocommit=True) as conn:
            if sample is None:
                ids = [int(r["id"]) for r in conn.execute("SELECT id FROM patients ORDER BY id")]
                sample = sorted(rng.sample(ids, min(_SAMPLE_PATIENTS, len(ids))))
            answers.append([_chart_rows(chart, conn, p, day) for p in sample])
    return all(_equal(answers[0], other) for other in answers[1:])


def same_team_stats(urls: list[str], as_of: str) -> bool | None:
    """True when every team's STATS_DAYS-day statistics to `as_of` (the API's, from
    readings_received_daily where settled) are equal on every URL; None without the API."""
    stats = queries.team_stats_queries()
    if stats is None:
        return None
    query, _ = stats
    day = datetime.fromisoformat(as_of).replace(tzinfo=UTC)
    answers = []
    for url in urls:
        with connect(url, autocommit=True) as conn:
            answers.append([query(conn, {"team": int(r["id"]), "as_of": day,
                                         "zone": SERVICE_ZONE_NAME})
                            for r in conn.execute("SELECT id FROM teams ORDER BY id")])
    return all(other == answers[0] for other in answers[1:])


def _chart_rows(chart: queries.Query, conn: Any, patient: int,
                as_of: datetime) -> list[dict[str, Any]]:
    args = {"patient": patient, "metric": "spo2", "as_of": as_of}
    if isinstance(chart, str):
        return list(conn.execute(chart, args).fetchall())
    return list(chart(conn, args))


def _equal(a: list[list[dict[str, Any]]], b: list[list[dict[str, Any]]]) -> bool:
    """Equal buckets; means may differ in the last bits (summed in another order)."""
    if len(a) != len(b):
        return False
    for rows_a, rows_b in zip(a, b, strict=True):
        if len(rows_a) != len(rows_b):
            return False
        for x, y in zip(rows_a, rows_b, strict=True):
            start_x = x.get("start", x.get("day"))
            start_y = y.get("start", y.get("day"))
            if (start_x, x["min"], x["max"], x["n"]) != (start_y, y["min"], y["max"], y["n"]):
                return False
            if not math.isclose(x["mean"], y["mean"], rel_tol=1e-12):
                return False
    return True

