"""One adherence: the caseload, the team statistics and the "< 70 %" rule count the same
readings on the same local days, and agree on what a care-plan slot expects."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from psycopg.types.json import Jsonb

from alerts.scheduler import check_missing
from api.queries.caseload import load_caseload
from api.queries.stats import team_stats
from telehub.care.adherence import expected_readings, received_readings
from telehub.domain import adherence
from telehub.domain.units import Metric
from tests.alerts.conftest import Clinic

LONDON = ZoneInfo("Europe/London")
# 00:30 BST on Thursday 11 June 2026: still 10 June in UTC.
NOW = datetime(2026, 6, 10, 23, 30, tzinfo=UTC)
WEIGHT_DAILY = {"weight": {"per_day": 1, "window": "morning"}}


def _patient(clinic: Clinic, plan: dict[str, object], times: list[datetime],
             low_quality: Sequence[datetime] = ()) -> int:
    pid = clinic.patient(["heart-failure"])
    clinic.conn.execute("UPDATE patients SET care_plan = %s, enrolled_at = %s WHERE id = %s",
                        (Jsonb(plan), NOW - timedelta(days=30), pid))
    for at in times:
        clinic.store(pid, Metric.WEIGHT, 80.0, at)
    for at in low_quality:
        clinic.store(pid, Metric.WEIGHT, 80.0, at, flags=["low-quality"])
    return pid


def _utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 6, day, hour, minute, tzinfo=UTC)


def test_slot_definition_is_a_whole_number_of_readings_a_day_of_at_least_one() -> None:
    plan = {"weight": {"per_day": 1}, "spo2": {"per_day": 0}, "pulse": {"window": "morning"},
            "glucose": {"per_day": 2.5}, "x": {"per_day": True}, "y": {"per_day": "2"}, "z": 3}
    assert adherence.planned_per_day(plan) == {"weight": 1}


def test_a_day_is_the_local_day_and_low_quality_readings_are_not_received() -> None:
    readings = [("weight", _utc(10, 7), []), ("weight", _utc(10, 23, 15), []),   # 10th, 11th
                ("weight", _utc(9, 12), ["low-quality"]), ("weight", _utc(8, 12), ["invalid"])]
    counts = adherence.daily_counts(readings, LONDON)
    got = adherence.adherence(WEIGHT_DAILY, NOW - adherence.WINDOW, NOW, counts)
    assert got is not None and (got.received, got.expected) == (2, 7.0)
    assert got.share == pytest.approx(2 / 7)


def test_at_00_30_bst_the_caseload_the_team_figure_and_the_rule_count_the_same_local_days(
        clinic: Clinic) -> None:
    # Readings at 07:00 and 23:15 UTC of one UTC day fall on two London days (08:00 and
    # 00:15 BST the next day). Counted per UTC day the first patient would have 3 of 7
    # (43 %, an alert); per London day 6 of 7. A low-quality reading counts for neither.
    steady = _patient(clinic, WEIGHT_DAILY,
                      [_utc(d, h, m) for d in (6, 8, 10) for h, m in ((7, 0), (23, 15))],
                      low_quality=[_utc(4, 12)])
    # The second: London days 7 (twice: 08:00 and 00:15 BST), 9 and 11; UTC days 6, 7, 8, 10.
    thin = _patient(clinic, WEIGHT_DAILY,
                    [_utc(6, 23, 15), _utc(7, 7), _utc(8, 23, 15), _utc(10, 23, 15)],
                    low_quality=[_utc(5, 12)])
    rows = {r.patient_id: r for r in load_caseload(clinic.conn, clinic.team_id, None, NOW,
                                                   zone=LONDON)}
    assert rows[steady].adherence_7d == round(6 / 7, 4)
    assert rows[thin].adherence_7d == round(3 / 7, 4)
    stats = team_stats(clinic.conn, clinic.team_id, NOW - adherence.WINDOW, NOW)
    assert (stats.received_readings, stats.expected_readings) == (6 + 3, 14)
    check_missing(clinic.conn, NOW, LONDON)
    assert clinic.alert(steady, "missing-readings") is None
    alert = clinic.alert(thin, "missing-readings")
    assert alert is not None and alert["severity"] == "info"
    assert "3 readings in the 7 days to 00:30 on 11 Jun" in alert["message"]


def test_a_slot_that_expects_nothing_is_neither_chased_nor_counted(clinic: Clinic) -> None:
    # per_day 0 (the API accepts it: "not expected") or no per_day at all: the scheduler used
    # to chase these as daily readings while the caseload expected nothing.
    pid = _patient(clinic, {"weight": {"per_day": 0}, "spo2": {"window": "morning"}}, [])
    assert check_missing(clinic.conn, NOW, LONDON) == 0
    assert clinic.alerts(pid) == []
    [row] = [r for r in load_caseload(clinic.conn, clinic.team_id, None, NOW, zone=LONDON)
             if r.patient_id == pid]
    assert row.adherence_7d is None


def test_the_sql_and_the_definition_agree_on_any_week_of_readings(clinic: Clinic) -> None:
    """telehub.care.adherence (the caseload's and the rule's SQL) counts what
    telehub.domain.adherence defines, across a clock change, flags and crowded days."""
    rng = random.Random(13)
    now = datetime(2026, 10, 28, 9, 0, tzinfo=UTC)          # the week holds 25 October
    plan = {"weight": {"per_day": 1}, "spo2": {"per_day": 2}, "pulse": {"per_day": 0}}
    pid = clinic.patient([])
    clinic.conn.execute("UPDATE patients SET care_plan = %s, enrolled_at = %s WHERE id = %s",
                        (Jsonb(plan), now - timedelta(days=30), pid))
    readings = []
    for _ in range(60):
        metric = rng.choice([Metric.WEIGHT, Metric.SPO2, Metric.PULSE])
        at = now - timedelta(minutes=rng.randrange(8 * 24 * 60))
        flags = rng.choice([[], [], [], ["low-quality"], ["invalid"], ["hi"]])
        clinic.store(pid, metric, 80.0, at, flags=flags)
        readings.append((metric.value, at, flags))
    start = now - adherence.WINDOW
    counts = adherence.daily_counts([r for r in readings if start <= r[1] < now], LONDON)
    want = adherence.adherence(plan, start, now, counts)
    query = (f"SELECT {received_readings('p.id', 'p.care_plan', '%(start)s', '%(end)s')} AS got,"
             f" {expected_readings('p.care_plan', '%(start)s', '%(end)s')} AS expected"
             " FROM patients p WHERE p.id = %(pid)s")
    row = clinic.conn.execute(query, {"start": start, "end": now, "pid": pid}).fetchone()
    assert want is not None and row is not None
    assert (row["got"], float(row["expected"])) == (want.received, want.expected)
