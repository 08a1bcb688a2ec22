"""`GET /patients/{id}/readings`: raw rows, and buckets equal to pandas' own aggregation."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pandas as pd
import psycopg
import pytest

from tests.api.conftest import LiveApi
from tests.api.data import add_readings

START = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def series(live_api: LiveApi, conn: psycopg.Connection) -> list[tuple[datetime, float]]:
    """Twenty days of irregular pulse readings for Bob, plus one SpO2 reading."""
    rng = random.Random(7)
    points = sorted({(START + timedelta(minutes=rng.randrange(0, 20 * 24 * 60))).replace(
        second=rng.randrange(60)) for _ in range(600)})
    values = [(t, float(rng.randint(45, 140))) for t in points]
    add_readings(conn, live_api.world.patients["bob"], "pulse", values)
    add_readings(conn, live_api.world.patients["bob"], "spo2", [(START, 95.0)])
    conn.commit()
    return values


def _frame(values: list[tuple[datetime, float]]) -> pd.DataFrame:
    return pd.DataFrame(values, columns=["time", "value"]).set_index("time")


@pytest.mark.parametrize(("bucket", "rule"), [("day", "1D"), ("hour", "1h")])
def test_buckets_equal_pandas_aggregation_of_the_raw_series(
        live_api: LiveApi, series: list[tuple[datetime, float]], bucket: str, rule: str) -> None:
    frm, to = START + timedelta(days=2, hours=5), START + timedelta(days=15)
    with live_api.client("nurse") as c:
        r = c.get(f"/patients/{live_api.world.patients['bob']}/readings",
                  params={"metric": "pulse", "bucket": bucket, "from": frm.isoformat(),
                          "to": to.isoformat()})
    assert r.status_code == 200, r.text
    got = pd.DataFrame(r.json()["buckets"])
    got["start"] = pd.to_datetime(got["start"], utc=True)
    got = got.set_index("start")[["min", "max", "mean", "n"]]
    window = _frame([(t, v) for t, v in series if frm <= t < to])
    expected = window["value"].resample(rule).agg(["min", "max", "mean", "count"])
    expected = expected[expected["count"] > 0].rename(columns={"count": "n"})
    expected.index.name = "start"
    assert len(got) == len(expected) > 10
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, check_freq=False,
                                  check_names=False)


def test_raw_readings_in_a_window_with_device_and_units(
        live_api: LiveApi, series: list[tuple[datetime, float]]) -> None:
    bob = live_api.world.patients["bob"]
    frm, to = START, START + timedelta(days=1)
    with live_api.client("nurse") as c:
        r = c.get(f"/patients/{bob}/readings", params={"from": frm.isoformat(),
                                                       "to": to.isoformat()})
    body = r.json()
    assert body["bucket"] == "raw" and body["buckets"] == []
    expected = [(t, v) for t, v in series if frm <= t < to]
    pulses = [x for x in body["raw"] if x["metric"] == "pulse"]
    assert [(datetime.fromisoformat(x["time"]), x["value"]) for x in pulses] == expected
    assert pulses[0]["unit"] == "/min" and pulses[0]["device_id"] == f"oximeter-{bob}"
    assert [x["value"] for x in body["raw"] if x["metric"] == "spo2"] == [95.0]


def test_bad_windows_and_metrics_are_422(live_api: LiveApi) -> None:
    bob = live_api.world.patients["bob"]
    with live_api.client("nurse") as c:
        backwards = c.get(f"/patients/{bob}/readings",
                          params={"from": "2026-03-02T00:00:00Z", "to": "2026-03-01T00:00:00Z"})
        metric = c.get(f"/patients/{bob}/readings", params={"metric": "temperature"})
        bucket = c.get(f"/patients/{bob}/readings", params={"bucket": "week"})
    assert backwards.status_code == 422 and backwards.json()["code"] == "bad-window"
    assert metric.status_code == 422 and "metric" in metric.json()["detail"]
    assert bucket.status_code == 422


def test_reading_access_is_audited(live_api: LiveApi, conn: psycopg.Connection) -> None:
    bob = live_api.world.patients["bob"]
    with live_api.client("matron") as c:
        c.get(f"/patients/{bob}/readings", params={"bucket": "day", "metric": "pulse"})
    row = conn.execute("SELECT actor, action, resource, patient_id, detail, client_addr "
                       "FROM audit_log").fetchone()
    assert (row["actor"], row["action"], row["resource"], row["patient_id"]) == (
        "matron", "read", "readings", bob)
    assert row["detail"]["bucket"] == "day" and row["client_addr"] == "127.0.0.1"


def test_timescaledb_buckets_use_time_bucket_with_the_same_shape() -> None:
    from api.queries.buckets import DATE_BIN_SQL, TIME_BUCKET_SQL

    assert "time_bucket(%(width)s, r.time)" in TIME_BUCKET_SQL
    assert "date_bin" not in TIME_BUCKET_SQL
    assert TIME_BUCKET_SQL.split("AS start", 1)[1] == DATE_BIN_SQL.split("AS start", 1)[1]
