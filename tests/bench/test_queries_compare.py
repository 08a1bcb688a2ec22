"""`telehub bench queries --compare-url` runs both servers on the same history, side by side."""

from __future__ import annotations

import random
import uuid

from bench import queries
from bench.compare import PATHS, run_compare, same_charts, same_team_stats
from bench.databases import connect, drop_database, with_database
from bench.history import ensure_history
from telehub.db.timescale import has_timescaledb, refresh_daily_aggregates


def test_compare_reports_each_query_on_both_servers_and_checks_their_answers(
        pg_admin_url: str) -> None:
    name = f"telehub_bench_c_{uuid.uuid4().hex[:12]}"
    sizes = queries.QuerySizes(patients=24, days=12, team_size=10, reps=3)
    other = f"telehub_bench_c_{uuid.uuid4().hex[:12]}"
    try:
        report = run_compare(pg_admin_url, pg_admin_url, sizes, database=name)
        copy = ensure_history(pg_admin_url, other, patients=sizes.patients, days=sizes.days,
                              team_size=sizes.team_size)
        urls = [with_database(pg_admin_url, name), copy.url]
        as_of = str(report.params["as_of"][0])
        alike = same_charts(urls, as_of, random.Random(1))
        with connect(copy.url, autocommit=True) as conn:
            timescale = has_timescaledb(conn)
            # One changed reading in every patient's chart: the check must see it.
            conn.execute("UPDATE readings SET value = value - 1 WHERE metric = 'spo2' "
                         "AND time = (SELECT max(time) FROM readings r2 WHERE r2.metric = "
                         "'spo2' AND r2.patient_id = readings.patient_id)")
            # And one weight reading fewer (a day the care plans expect one): the team
            # statistics check must see it.
            conn.execute("DELETE FROM readings WHERE metric = 'weight' AND time = "
                         "(SELECT max(time) FROM readings WHERE metric = 'weight')")
            refresh_daily_aggregates(conn)
        differ = not same_charts(urls, as_of, random.Random(1))
        stats_alike = same_team_stats(urls[:1] * 2, as_of)
        stats_differ = same_team_stats(urls, as_of) is False
    finally:
        drop_database(pg_admin_url, name)
        drop_database(pg_admin_url, other)

    assert alike and differ and stats_alike and stats_differ
    path = PATHS[timescale]
    assert report.params["paths"] == [path, path]
    assert report.params["same_results"] is True and report.params["same_team_stats"] is True
    assert report.params["generated_this_run"] == [True, False]
    names = [row["query"] for row in report.rows]
    assert names[0::2] == names[1::2] and "chart_1y_daily" in names
    assert {row["path"] for row in report.rows} == {path}
    assert not any("timescaledb / postgresql" in k for k in report.ratios)
    assert f"{path}: chart_1y_daily / baseline (median)" in report.ratios
    assert all(mb and mb > 0 for mb in report.params["readings_mb"])
    assert any("no path ratio" in n for n in report.notes)
