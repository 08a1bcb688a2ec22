"""`telehub bench queries`: caseload, a 1-year daily chart and team stats on a year of history.

Each query is timed against a plain indexed SELECT of the same rows, so the ratio
says what the query's aggregation costs over just reading what it reads; the API's
90-day team statistics against the same statistics counted from the readings alone, so the
ratio says what reading readings_received_daily's settled days saves.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg

from bench.databases import Row, connect
from bench.history import HistoryInfo, ensure_history
from bench.late_reading import time_late_readings
from bench.report import Report, ratio, summarise
from telehub.db.timescale import has_timescaledb
from telehub.domain.clock import SERVICE_ZONE_NAME

# The caseload: every active patient of a team with the latest value of each metric,
# the worst open alert and when they last sent anything, worst first.
CASELOAD_SQL = """
WITH team_patients AS (
    SELECT id, display_id FROM patients WHERE team_id = %(team)s AND status = 'active'
), latest AS (
    SELECT tp.id AS patient_id, m.metric, r.time, r.value
    FROM team_patients tp
    CROSS JOIN unnest(enum_range(NULL::metric)) AS m (metric)
    CROSS JOIN LATERAL (
        SELECT time, value FROM readings
        WHERE patient_id = tp.id AND metric = m.metric
        ORDER BY time DESC LIMIT 1
    ) r
), open_alerts AS (
    SELECT patient_id, max(severity) AS worst, count(*) AS n
    FROM alerts WHERE team_id = %(team)s AND status <> 'resolved'
    GROUP BY patient_id
)
SELECT tp.id, tp.display_id, oa.worst, coalesce(oa.n, 0) AS open_alerts,
       max(l.time) AS last_reading_at,
       jsonb_object_agg(l.metric, jsonb_build_object('time', l.time, 'value', l.value))
           FILTER (WHERE l.metric IS NOT NULL) AS latest
FROM team_patients tp
LEFT JOIN latest l ON l.patient_id = tp.id
LEFT JOIN open_alerts oa ON oa.patient_id = tp.id
GROUP BY tp.id, tp.display_id, oa.worst, oa.n
ORDER BY oa.worst DESC NULLS LAST, last_reading_at NULLS FIRST
"""

# Baseline: the team's readings of the last 7 days (the rows the caseload's latest
# values and 7-day trends are drawn from), fetched by a plain indexed SELECT.
CASELOAD_BASELINE_SQL = """
SELECT patient_id, metric, time, value FROM readings
WHERE patient_id = ANY(%(patients)s)
  AND time >= %(as_of)s - INTERVAL '7 days' AND time < %(as_of)s
"""

# One patient's one-year daily chart (UTC days), as the patient view draws it.
CHART_SQL = """
SELECT date_bin(INTERVAL '1 day', time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS day,
       min(value) AS min, max(value) AS max, avg(value) AS mean, count(*) AS n
FROM readings
WHERE patient_id = %(patient)s AND metric = %(metric)s
  AND time >= %(as_of)s - INTERVAL '1 year' AND time < %(as_of)s
GROUP BY 1 ORDER BY 1
"""

CHART_BASELINE_SQL = """
SELECT time, value FROM readings
WHERE patient_id = %(patient)s AND metric = %(metric)s
  AND time >= %(as_of)s - INTERVAL '1 year' AND time < %(as_of)s
"""

# Team stats for the last 7 days: volume, who has gone quiet, open alerts, means.
STATS_SQL = """
WITH team_patients AS (
    SELECT id FROM patients WHERE team_id = %(team)s AND status = 'active'
), week AS (
    SELECT r.patient_id, r.metric, r.time, r.value
    FROM readings r JOIN team_patients tp ON tp.id = r.patient_id
    WHERE r.time >= %(as_of)s - INTERVAL '7 days' AND r.time < %(as_of)s
)
SELECT (SELECT count(*) FROM team_patients) AS patients,
       (SELECT count(*) FROM week) AS readings_7d,
       (SELECT count(*) FROM team_patients) - (
           SELECT count(DISTINCT patient_id) FROM week
           WHERE time >= %(as_of)s - INTERVAL '48 hours') AS silent_48h,
       (SELECT count(*) FROM alerts
        WHERE team_id = %(team)s AND status <> 'resolved' AND severity = 'red') AS open_red,
       (SELECT count(*) FROM alerts
        WHERE team_id = %(team)s AND status <> 'resolved' AND severity = 'amber') AS open_amber,
       (SELECT jsonb_object_agg(metric, round(mean::numeric, 2))
        FROM (SELECT metric, avg(value) AS mean FROM week GROUP BY metric) m) AS means
"""

STATS_BASELINE_SQL = """
SELECT patient_id, metric, time, value FROM readings
WHERE patient_id = ANY(%(patients)s)
  AND time >= %(as_of)s - INTERVAL '7 days' AND time < %(as_of)s
"""


# The readings' size on disk, indexes included (a hypertable's is the sum of its chunks').
SIZE_SQL = {False: "SELECT pg_total_relation_size('readings') AS bytes",
            True: "SELECT hypertable_size('readings') AS bytes"}

BASELINE_LABELS = {
    "caseload": "team's last 7 days, plain SELECT",
    "chart_1y_daily": "same rows, plain SELECT",
    "team_stats_7d": "same rows, plain SELECT",
    "team_stats_90d": "the same statistics, every day from the readings",
}

# The team statistics period the dashboard offers beyond a month ("Last 90 days").
STATS_DAYS = 90


@dataclass(frozen=True)
class QuerySizes:
    """How big a history to query, and how often to repeat each query."""

    patients: int = 5000
    days: int = 365
    team_size: int = 500
    reps: int = 30


FULL = QuerySizes()
QUICK = QuerySizes(patients=1000, days=90, team_size=250, reps=15)


QueryFn = Callable[[psycopg.Connection[Row], dict[str, Any]], list[Any]]
Query = str | QueryFn


def time_query(conn: psycopg.Connection[Row], query: Query,
               params: Callable[[], dict[str, Any]], reps: int,
               warmup: int = 2) -> tuple[list[float], int]:
    """Wall-clock seconds of `reps` executions (all rows fetched), and the last row count.
    `query` is SQL, or a function of the connection and the parameters returning rows."""
    samples = []
    rows = 0
    for i in range(warmup + reps):
        args = params()
        started = time.perf_counter()
        if isinstance(query, str):
            rows = len(conn.execute(query, args).fetchall())
        else:
            rows = len(query(conn, args))
        elapsed = time.perf_counter() - started
        if i >= warmup:
            samples.append(elapsed)
    return samples, rows


def chart_query() -> tuple[Query, str]:
    """The API's daily buckets (readings_daily's settled days on TimescaleDB) when the API is
    installed, else this module's date_bin SQL; and which."""
    try:
        from api.queries.buckets import load_buckets
    except ImportError:
        return CHART_SQL, "bench"

    def api_chart(conn: psycopg.Connection[Row], args: dict[str, Any]) -> list[Any]:
        return load_buckets(conn, {"patient": args["patient"], "metric": args["metric"],
                                   "start": args["as_of"] - timedelta(days=365),
                                   "end": args["as_of"]}, timedelta(days=1))

    return api_chart, "api"


def team_stats_queries() -> tuple[QueryFn, QueryFn] | None:
    """The API's team statistics over STATS_DAYS to as_of (settled days from
    readings_received_daily where it has them) and the same counted from the readings
    alone; None without the API."""
    try:
        from api.queries.stats import team_stats
    except ImportError:
        return None

    def stats(from_aggregate: bool) -> QueryFn:
        def query(conn: psycopg.Connection[Row], args: dict[str, Any]) -> list[Any]:
            return [team_stats(conn, args["team"], args["as_of"] - timedelta(days=STATS_DAYS),
                               args["as_of"], args["zone"], from_aggregate=from_aggregate)]
        return query

    return stats(True), stats(False)


def run(admin_url: str, sizes: QuerySizes, *, database: str = "telehub_bench",
        rebuild: bool = False, seed: int = 8, http: bool = True,
        reference: str | None = None) -> Report:
    """Generate (or reuse) the history, time each query and its baseline, return the report;
    `reference`: also time the caseload of that Telehub source tree, turn about with this
    one's (bench/caseload_reference.py)."""
    info = ensure_history(admin_url, database, patients=sizes.patients, days=sizes.days,
                          team_size=sizes.team_size, rebuild=rebuild)
    report = Report(
        "queries",
        params={"patients": sizes.patients, "days": sizes.days, "team_size": sizes.team_size,
                "reps": sizes.reps, "readings": info.rows, "database": database,
                "generated_this_run": info.generated,
                "generate_s": round(info.generate_s, 1), "as_of": info.spec.as_of},
        columns=["query", "rows", "median_ms", "p95_ms", "max_ms"],
    )
    as_of_day = date.fromisoformat(info.spec.as_of)
    as_of = datetime(as_of_day.year, as_of_day.month, as_of_day.day, tzinfo=UTC)
    with connect(info.url, autocommit=True) as conn:
        _time_all(conn, report, info, as_of, sizes.reps, random.Random(seed), http=http,
                  reference=reference)
    return report


def caseload_query() -> tuple[str, str]:
    """The API's own caseload SQL when the API is installed, else this module's; and which."""
    try:
        from api.queries.caseload import CASELOAD_SQL as API_CASELOAD_SQL
    except ImportError:
        return CASELOAD_SQL, "bench"
    return API_CASELOAD_SQL, "api"


def _time_all(conn: psycopg.Connection[Row], report: Report, info: HistoryInfo,
              as_of: datetime, reps: int, rng: random.Random, *, http: bool,
              reference: str | None = None) -> None:
    team_row = conn.execute("SELECT team_id, count(*) AS n FROM patients GROUP BY team_id "
                            "ORDER BY team_id LIMIT 1").fetchone()
    assert team_row is not None, "the history database has no patients"
    team = int(team_row["team_id"])
    patients = [int(r["id"]) for r in conn.execute(
        "SELECT id FROM patients WHERE team_id = %s ORDER BY id", (team,)).fetchall()]
    # The API's query names its parameters team, nurse, now, trend_from and zone.
    team_args = {"team": team, "patients": patients, "as_of": as_of, "now": as_of,
                 "nurse": None, "trend_from": as_of - timedelta(days=7),
                 "zone": SERVICE_ZONE_NAME}
    caseload_sql, source = caseload_query()
    report.params["caseload_sql"] = (f"{source} (api/queries/caseload.py)"
                                     if source == "api" else source)
    report.params["team_patients"] = len(patients)

    chart, chart_source = chart_query()
    report.params["chart_sql"] = (f"{chart_source} (api/queries/buckets.py)"
                                  if chart_source == "api" else chart_source)
    report.params["timescaledb"] = has_timescaledb(conn)
    size = conn.execute(SIZE_SQL[report.params["timescaledb"]]).fetchone()
    report.params["readings_mb"] = round(int(size["bytes"]) / 2**20, 1) if size else None

    def chart_args() -> dict[str, Any]:
        return {"patient": rng.choice(patients), "metric": "spo2", "as_of": as_of}

    pairs: list[tuple[str, Query, Query, Callable[[], dict[str, Any]]]] = [
        ("caseload", caseload_sql, CASELOAD_BASELINE_SQL, lambda: team_args),
        ("chart_1y_daily", chart, CHART_BASELINE_SQL, chart_args),
        ("team_stats_7d", STATS_SQL, STATS_BASELINE_SQL, lambda: team_args),
    ]
    stats = team_stats_queries()
    if stats is None:
        report.notes.append("team_stats_90d not timed: the API is not installed")
    else:
        pairs.append((f"team_stats_{STATS_DAYS}d", *stats, lambda: team_args))
    for name, query, baseline, args in pairs:
        q_samples, q_rows = time_query(conn, query, args, reps)
        b_samples, b_rows = time_query(conn, baseline, args, reps)
        q, b = summarise(q_samples), summarise(b_samples)
        report.add(query=name, rows=q_rows, **q)
        report.add(query=f"  baseline: {BASELINE_LABELS[name]}", rows=b_rows, **b)
        report.ratios[f"{name} / baseline (median)"] = ratio(q["median_ms"], b["median_ms"])
        if name == "caseload" and http:
            _time_http(report, info.url, team, reps, q, b)
        if name == "caseload" and reference and isinstance(query, str):
            from bench.caseload_reference import time_caseload_pair

            time_caseload_pair(conn, report, info.url, team, team_args, query, reference, reps,
                               http=http)
    time_late_readings(conn, report, as_of, reps, rng, timescale=report.params["timescaledb"])


def _time_http(report: Report, url: str, team: int, reps: int, sql_stats: dict[str, float],
               baseline: dict[str, float]) -> None:
    """GET /caseload through a real HTTP client against the API in its own process."""
    from bench.api_server import api_missing, serve_api

    missing = api_missing()
    if missing:
        report.notes.append(missing)
        return
    with serve_api(url, team) as api:
        samples = []
        rows = 0
        for i in range(reps + 2):
            started = time.perf_counter()
            answer = api.client.get("/caseload", params={"team_id": team})
            body = answer.json()
            elapsed = time.perf_counter() - started
            answer.raise_for_status()
            rows = len(body["rows"])
            if i >= 2:
                samples.append(elapsed)
    stats = summarise(samples)
    report.add(query="GET /caseload (HTTP, JSON decoded)", rows=rows, **stats)
    report.ratios["GET /caseload / caseload SQL (median)"] = ratio(
        stats["median_ms"], sql_stats["median_ms"])
    report.ratios["GET /caseload / baseline (median)"] = ratio(
        stats["median_ms"], baseline["median_ms"])
    report.notes.append("GET /caseload computes its 7-day trend from the wall clock: run it on "
                        "the day the history was generated for comparable numbers")
