"""Caseload rows carry age and 7-day adherence, counted as the team statistics count it."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import psycopg
import pytest
from psycopg.types.json import Jsonb

from telehub.domain.patients import age_on
from tests.api.conftest import LiveApi
from tests.api.data import add_readings


def _noon(days_back: int, minute: int = 0) -> datetime:
    """Noon UTC (plus `minute`) of the UTC day `days_back` before today: always inside the
    last 7 days for 1-5 days back, one reading a UTC day."""
    day = datetime.now(UTC).date() - timedelta(days=days_back)
    return datetime.combine(day, time(12, minute), UTC)


def test_adherence_over_7_days_capped_per_day_and_equal_to_the_team_figure(
        live_api: LiveApi, conn: psycopg.Connection) -> None:
    w = live_api.world
    ann, bob = w.patients["ann"], w.patients["bob"]
    now = datetime.now(UTC)
    conn.execute("UPDATE patients SET care_plan = %s, enrolled_at = %s WHERE id = %s",
                 (Jsonb({"weight": {"per_day": 1}, "spo2": {"per_day": 2},
                         "note": "not a slot", "blood-pressure": {"per_day": 1}}),
                  now - timedelta(days=30), ann))
    # bob joined two days ago: his window is two days, not seven.
    conn.execute("UPDATE patients SET care_plan = %s, enrolled_at = %s WHERE id = %s",
                 (Jsonb({"weight": {"per_day": 1}}), now - timedelta(days=2), bob))
    # ann: weight on 5 days, three on one of them (counts once); one 10 days ago (outside).
    add_readings(conn, ann, "weight", [(_noon(d), 80.0) for d in range(1, 6)]
                 + [(_noon(3, 1), 80.2), (_noon(3, 2), 80.4), (_noon(10), 81.0)])
    # spo2 twice a day planned: three on one day (counts two), one on another.
    add_readings(conn, ann, "spo2", [(_noon(1), 95.0), (_noon(1, 1), 96.0), (_noon(1, 2), 94.0),
                                     (_noon(2), 95.0)])
    add_readings(conn, ann, "pulse", [(_noon(1), 70.0)])  # not in the plan
    add_readings(conn, bob, "weight", [(_noon(1), 90.0)])
    conn.commit()
    with live_api.client("nurse") as c:
        r = c.get("/caseload")
        assert r.status_code == 200, r.text
        rows = {row["patient_id"]: row for row in r.json()["rows"]}
    expected_ann, received_ann = (1 + 2) * 7, 5 + 3
    assert rows[ann]["adherence_7d"] == round(received_ann / expected_ann, 4)
    assert rows[bob]["adherence_7d"] == pytest.approx(1 / 2, abs=0.002)
    with live_api.client("matron") as c:
        stats = c.get(f"/teams/{w.teams['north']}/stats",
                      params={"from": (now - timedelta(days=7)).isoformat(),
                              "to": now.isoformat()}).json()
    assert stats["expected_readings"] == expected_ann + 2
    assert stats["received_readings"] == received_ann + 1


def test_without_a_care_plan_adherence_is_null_and_age_is_given(
        live_api: LiveApi, conn: psycopg.Connection) -> None:
    conn.execute("UPDATE patients SET care_plan = '{}'::jsonb")
    conn.commit()
    with live_api.client("nurse") as c:
        rows = c.get("/caseload").json()["rows"]
    today = datetime.now(live_api.settings.zone).date()  # ages in the service's time zone
    assert [r["adherence_7d"] for r in rows] == [None, None]
    assert [r["age"] for r in rows] == [age_on(date(1940, 1, 2), today)] * 2


@pytest.mark.parametrize(("born", "day", "age"), [
    (date(1940, 1, 2), date(2026, 1, 1), 85), (date(1940, 1, 2), date(2026, 1, 2), 86),
    (date(1944, 2, 29), date(2025, 2, 28), 80), (date(1944, 2, 29), date(2025, 3, 1), 81)])
def test_age_in_whole_years(born: date, day: date, age: int) -> None:
    assert age_on(born, day) == age
