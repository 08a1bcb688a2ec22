"""On TimescaleDB, daily charts read settled days from readings_daily and equal raw buckets."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import psycopg
import pytest

from api.queries.buckets import DATE_BIN_SQL
from telehub.config import IngestSettings
from telehub.db.timescale import has_timescaledb, settled_days
from tests.api.conftest import LiveApi
from tests.api.data import add_readings

HORIZON_DAYS = IngestSettings().horizon_days


@pytest.fixture
def timescale(conn: psycopg.Connection) -> None:
    if not has_timescaledb(conn):
        pytest.skip("the test database has no TimescaleDB (TELEHUB_TEST_DATABASE_URL names a "
                    "plain PostgreSQL); the plain path is covered by test_readings.py")


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _history(conn: psycopg.Connection, patient: int, end: datetime) -> None:
    """200 days of irregular pulse and SpO2 readings ending at `end` (fractional values, so a
    mean summed in another order would show)."""
    rng = random.Random(11)
    for metric, low, high in (("pulse", 48.0, 130.0), ("spo2", 86.0, 99.0)):
        times = sorted({end - timedelta(seconds=rng.randrange(200 * 86400)) for _ in range(1500)})
        add_readings(conn, patient, metric, [(t, round(rng.uniform(low, high), 3))
                                             for t in times])
    conn.commit()


def _chart(live_api: LiveApi, patient: int, start: datetime, end: datetime,
           metric: str | None) -> list[dict[str, Any]]:
    params = {"bucket": "day", "from": start.isoformat(), "to": end.isoformat()}
    if metric:
        params["metric"] = metric
    with live_api.client("nurse") as c:
        r = c.get(f"/patients/{patient}/readings", params=params)
    assert r.status_code == 200, r.text
    return r.json()["buckets"]


def _raw(conn: psycopg.Connection, patient: int, start: datetime, end: datetime,
         metric: str | None) -> list[dict[str, Any]]:
    """The plain path's buckets (date_bin over every reading) on the same database."""
    rows = cast("list[dict[str, Any]]", conn.execute(
        DATE_BIN_SQL, {"patient": patient, "start": start, "end": end, "metric": metric,
                       "width": timedelta(days=1)}).fetchall())
    conn.commit()
    return [{**r, "start": r["start"].isoformat().replace("+00:00", "Z")} for r in rows]


def _assert_same(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert len(got) == len(expected) > 100
    for g, e in zip(got, expected, strict=True):
        assert datetime.fromisoformat(g["start"]) == datetime.fromisoformat(e["start"])
        assert (g["metric"], g["min"], g["max"], g["n"]) == (e["metric"], e["min"], e["max"],
                                                             e["n"])
        assert g["mean"] == pytest.approx(e["mean"], rel=1e-12)


@pytest.mark.usefixtures("timescale")
@pytest.mark.parametrize("metric", ["pulse", None])
def test_year_chart_from_the_aggregate_equals_raw_buckets(
        live_api: LiveApi, conn: psycopg.Connection, metric: str | None) -> None:
    bob = live_api.world.patients["bob"]
    end = _now()
    _history(conn, bob, end - timedelta(hours=1))
    start = end - timedelta(days=365)
    before = _chart(live_api, bob, start, end, metric)       # nothing of them materialised
    unrefreshed = settled_days(conn, "readings_daily", start, end)
    conn.commit()
    assert unrefreshed is None or unrefreshed[1] <= end - timedelta(days=199)
    with psycopg.connect(live_api.db_url, autocommit=True) as admin:
        admin.execute("CALL refresh_continuous_aggregate('readings_daily', NULL, NULL)")
    settled = settled_days(conn, "readings_daily", start, end)
    conn.commit()
    assert settled is not None and (settled[1] - settled[0]).days >= 150
    after = _chart(live_api, bob, start, end, metric)
    expected = _raw(conn, bob, start, end, metric)
    _assert_same(before, expected)
    _assert_same(after, expected)


@pytest.mark.usefixtures("timescale")
def test_readings_written_after_the_refresh_count_until_the_next(
        live_api: LiveApi, conn: psycopg.Connection) -> None:
    bob = live_api.world.patients["bob"]
    end = _now()
    _history(conn, bob, end - timedelta(hours=1))
    with psycopg.connect(live_api.db_url, autocommit=True) as admin:
        admin.execute("CALL refresh_continuous_aggregate('readings_daily', NULL, NULL)")
    start = end - timedelta(days=365)
    settled = settled_days(conn, "readings_daily", start, end)
    assert settled is not None
    # A store-and-forward batch as old as the horizon allows, and readings an import wrote
    # into days the refresh had already materialised.
    late = [(end - timedelta(days=days, minutes=m), 61.0)
            for days in (HORIZON_DAYS - 1, 100) for m in range(0, 600, 7)]
    add_readings(conn, bob, "pulse", late)
    conn.commit()
    shortened = settled_days(conn, "readings_daily", start, end)
    conn.commit()
    assert shortened is None or shortened[1] <= end - timedelta(days=100)
    _assert_same(_chart(live_api, bob, start, end, "pulse"), _raw(conn, bob, start, end, "pulse"))
