"""Team statistics read settled local days from readings_received_daily and give the same
figures as counting every day from the readings: on the clock-change days of 2026, at
patients' window edges, and with readings written into days already materialised."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from api.queries.stats import received_days, team_stats, team_stats_over
from telehub.care import registration as registry
from telehub.care.adherence import RECEIVED_DAILY_ZONE
from telehub.db.timescale import readings_is_hypertable, refresh_daily_aggregates
from telehub.domain import adherence
from telehub.domain.clock import day_start, service_date
from telehub.domain.codes import is_low_quality
from telehub.domain.nhs_number import synthetic_nhs_numbers
from telehub.domain.units import SPECS, Metric
from tests.api.conftest import LiveApi
from tests.api.data import device_for

ZONE = ZoneInfo(RECEIVED_DAILY_ZONE)
# 29 March 2026 (23 hours in London) and 25 October 2026 (25 hours).
SPRING, AUTUMN = date(2026, 3, 29), date(2026, 10, 25)
HISTORY = (datetime(2026, 1, 10, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC))
FLAGS = ([], [], [], [], ["verify"], ["hi"], ["low-quality"], ["invalid"],
         ["low-quality", "verify"])

# Periods as the team view asks for them (30, 90 and 365 days to an instant that is no
# midnight), periods holding a clock-change day, and one exactly that day.
PERIODS = [
    (datetime(2026, 10, 7, 10, 17, 23, tzinfo=UTC), datetime(2026, 11, 6, 10, 17, 23,
                                                              tzinfo=UTC)),
    (datetime(2026, 8, 8, 9, 5, tzinfo=UTC), datetime(2026, 11, 6, 9, 5, tzinfo=UTC)),
    (datetime(2025, 11, 20, 16, 0, tzinfo=UTC), datetime(2026, 11, 20, 16, 0, tzinfo=UTC)),
    (day_start(date(2026, 3, 1), ZONE), day_start(date(2026, 4, 10), ZONE)),
    (datetime(2026, 3, 28, 23, 30, tzinfo=UTC), datetime(2026, 3, 30, 0, 30, tzinfo=UTC)),
    (day_start(AUTUMN, ZONE), day_start(AUTUMN + timedelta(days=1), ZONE)),
]


def _plans() -> list[dict[str, Any]]:
    return [{"weight": {"per_day": 1}},
            {"spo2": {"per_day": 2}, "pulse": {"per_day": 2}},
            {"glucose": {"per_day": 4}, "weight": {"per_day": 1}},
            {"spo2": {"per_day": 1}, "pulse": {"per_day": 0}},
            {}]


def _readings(rng: random.Random, start: datetime, end: datetime, per_day: int
              ) -> Iterator[tuple[datetime, list[str]]]:
    """Up to per_day + 2 readings a day, many of them within an hour of local midnight."""
    day = start
    while day < end:
        for _ in range(rng.randrange(per_day + 3)):
            if rng.random() < 0.4:   # 22:30–01:30 UTC: either side of a London midnight
                at = day + timedelta(hours=22.5 + 3 * rng.random())
            else:
                at = day + timedelta(seconds=rng.randrange(86400))
            if start <= at < end:
                yield at.replace(microsecond=0), list(rng.choice(FLAGS))
        day += timedelta(days=1)


def _store(conn: psycopg.Connection, patient: int, metric: str,
           points: list[tuple[datetime, list[str]]]) -> None:
    device = device_for(conn, patient, metric)
    unit = SPECS[Metric(metric)].canonical.value
    value = {"weight": 80.0, "spo2": 95.0, "pulse": 70.0, "glucose": 6.0}[metric]
    with conn.cursor().copy("COPY readings (time, patient_id, device_id, metric, value, unit, "
                            "raw_value, raw_unit, reading_key, flags) FROM STDIN") as copy:
        for i, (at, flags) in enumerate(points):
            copy.write_row((at, patient, device, metric, value + i % 5, unit, value, unit,
                            f"{at.isoformat()}-{i}", flags))


def _team(conn: psycopg.Connection, team: int, seed: int) -> dict[int, dict[str, Any]]:
    """Patients of `team` with care plans, enrolled, first read and discharged at odd times,
    and their readings; returns each patient's plan, enrolment and discharge."""
    rng = random.Random(seed)
    numbers = synthetic_nhs_numbers(5000 + seed * 100)
    patients: dict[int, dict[str, Any]] = {}
    for i in range(10):
        plan = _plans()[i % 5]
        pid = registry.add_patient(conn, nhs_number=next(numbers), given_name="Stat",
                                   family_name=f"Patient{i}", birth_date=date(1944, 2, 2),
                                   team=team, care_plan=plan)
        enrolled = HISTORY[0] + timedelta(days=rng.randrange(300), seconds=rng.randrange(86400))
        first = enrolled - timedelta(days=3) if i % 3 == 0 else enrolled  # history predates
        discharged = (enrolled + timedelta(days=rng.randrange(20, 200), minutes=7)
                      if i % 4 == 1 else None)
        conn.execute("UPDATE patients SET enrolled_at = %s, discharged_at = %s, status = %s "
                     "WHERE id = %s", (enrolled, discharged,
                                       "discharged" if discharged else "active", pid))
        until = min(discharged or HISTORY[1], HISTORY[1])
        for metric in ("weight", "spo2", "pulse", "glucose"):
            per_day = adherence.planned_per_day(plan).get(metric, 1 if i % 2 else 0)
            _store(conn, pid, metric, list(_readings(rng, first, until, per_day)))
        patients[pid] = {"plan": plan, "enrolled": enrolled, "discharged": discharged}
    conn.commit()
    return patients


def _defined(conn: psycopg.Connection, patients: dict[int, dict[str, Any]], start: datetime,
             end: datetime) -> int:
    """Readings received in [start, end) as telehub.domain.adherence defines them."""
    total = 0
    for pid, p in patients.items():
        first = conn.execute("SELECT min(time) AS t FROM readings WHERE patient_id = %s",
                             (pid,)).fetchone()["t"]
        began = min(p["enrolled"], first) if first else p["enrolled"]
        s, e = max(began, start), min(p["discharged"] or end, end)
        if s >= e:
            continue
        rows = conn.execute("SELECT metric::text, time, flags FROM readings WHERE patient_id = "
                            "%s AND time >= %s AND time < %s", (pid, s, e)).fetchall()
        counts = adherence.daily_counts([(r["metric"], r["time"], r["flags"]) for r in rows],
                                        ZONE)
        total += adherence.capped_received(counts, adherence.planned_per_day(p["plan"]))
    conn.commit()
    return total


def _both(conn: psycopg.Connection, team: int, start: datetime, end: datetime
          ) -> tuple[Any, Any]:
    got = team_stats(conn, team, start, end, RECEIVED_DAILY_ZONE)
    raw = team_stats(conn, team, start, end, RECEIVED_DAILY_ZONE, from_aggregate=False)
    conn.commit()
    return got, raw


@pytest.fixture(autouse=True)
def no_policy_refresh(conn: psycopg.Connection) -> Iterator[None]:
    """TimescaleDB's refresh policies held, so only the test decides what is materialised."""
    hypertable = readings_is_hypertable(conn)
    toggle = ("SELECT alter_job(job_id, scheduled => %s) FROM timescaledb_information.jobs "
              "WHERE proc_name = 'policy_refresh_continuous_aggregate'")
    if hypertable:
        conn.execute(toggle, (False,))
    conn.commit()
    yield
    if hypertable:
        conn.rollback()
        conn.execute(toggle, (True,))
        conn.commit()


def _late(conn: psycopg.Connection, patients: dict[int, dict[str, Any]]) -> datetime:
    """Readings (received, low-quality, and more than a plan's day takes) written into days
    already materialised, around 25 October; returns the earliest of them."""
    active = [pid for pid, p in patients.items() if p["discharged"] is None and p["plan"]]
    at = day_start(AUTUMN, ZONE) + timedelta(minutes=20)
    for pid in active:
        for metric in adherence.planned_per_day(patients[pid]["plan"]):
            _store(conn, pid, metric, [(at + timedelta(hours=h), flags) for h in (0, 1, 24)
                                       for flags in ([], ["low-quality"], [])])
    conn.commit()
    return at


def test_team_stats_from_the_aggregate_equal_the_readings_on_every_path(
        live_api: LiveApi, conn: psycopg.Connection) -> None:
    team = live_api.world.teams["north"]
    patients = _team(conn, team, seed=3)
    timescale = readings_is_hypertable(conn)
    for start, end in PERIODS:            # before any refresh: the readings on both paths
        got, raw = _both(conn, team, start, end)
        assert got == raw and raw.received_readings == _defined(conn, patients, start, end)
    with psycopg.connect(live_api.db_url, autocommit=True) as admin:
        refresh_daily_aggregates(admin)
    for start, end in PERIODS:
        settled = received_days(conn, start, end, RECEIVED_DAILY_ZONE)
        conn.commit()
        if timescale and (end - start).days >= 30:
            assert settled is not None and (settled[1] - settled[0]).days >= (end - start).days - 1
        else:
            assert timescale or settled is None   # plain PostgreSQL: a view, never settled
        got, raw = _both(conn, team, start, end)
        assert got == raw and raw.expected_readings > 0
    start, end = PERIODS[1]                 # 90 days holding 25 October
    before = received_days(conn, start, end, RECEIVED_DAILY_ZONE)
    earliest = _late(conn, patients)
    got, raw = _both(conn, team, start, end)
    assert got == raw and raw.received_readings == _defined(conn, patients, start, end)
    if timescale:
        assert before is not None
        # The late days wait for the next refresh: read from the aggregate as it stands,
        # they would miss readings.
        shortened = received_days(conn, start, end, RECEIVED_DAILY_ZONE)
        assert shortened is not None and shortened[1] <= earliest
        stale = team_stats_over(conn, team, start, end, RECEIVED_DAILY_ZONE, before)
        assert stale.received_readings < raw.received_readings
        conn.commit()
        with psycopg.connect(live_api.db_url, autocommit=True) as admin:
            refresh_daily_aggregates(admin)
        assert received_days(conn, start, end, RECEIVED_DAILY_ZONE) == before
        assert _both(conn, team, start, end) == (raw, raw)
    with live_api.client("manager") as c:    # the route takes the same path
        r = c.get(f"/teams/{team}/stats", params={"from": start.isoformat(),
                                                   "to": end.isoformat()})
    assert r.status_code == 200, r.text
    assert r.json()["received_readings"] == raw.received_readings


def test_any_settled_span_gives_the_figures_of_the_readings(
        live_api: LiveApi, conn: psycopg.Connection) -> None:
    """The days read from readings_received_daily and those counted from the readings meet
    without a gap or an overlap, whatever span is settled: on plain PostgreSQL the view
    (every day computed when read), on TimescaleDB the aggregate after a full refresh."""
    team = live_api.world.teams["north"]
    patients = _team(conn, team, seed=5)
    with psycopg.connect(live_api.db_url, autocommit=True) as admin:
        refresh_daily_aggregates(admin)
    for start, end in PERIODS:
        raw = team_stats(conn, team, start, end, RECEIVED_DAILY_ZONE, from_aggregate=False)
        assert raw.received_readings == _defined(conn, patients, start, end)
        days = [day_start(service_date(start, ZONE) + timedelta(days=n), ZONE)
                for n in range((end - start).days + 2)]
        spans = [(days[0], days[-1]), (days[1], days[-2]), (days[len(days) // 2], days[-1]),
                 (day_start(SPRING, ZONE), day_start(AUTUMN + timedelta(days=1), ZONE)),
                 (days[1], days[2])]
        for span in spans:
            assert team_stats_over(conn, team, start, end, RECEIVED_DAILY_ZONE, span) == raw
    conn.commit()


def test_another_zone_counts_from_the_readings_and_a_span_in_it_is_refused(
        live_api: LiveApi, conn: psycopg.Connection) -> None:
    team = live_api.world.teams["north"]
    _team(conn, team, seed=7)
    with psycopg.connect(live_api.db_url, autocommit=True) as admin:
        refresh_daily_aggregates(admin)
    start, end = PERIODS[1]
    assert received_days(conn, start, end, "America/New_York") is None
    assert (team_stats(conn, team, start, end, "America/New_York")
            == team_stats(conn, team, start, end, "America/New_York", from_aggregate=False))
    with pytest.raises(ValueError, match="counts days in Europe/London"):
        team_stats_over(conn, team, start, end, "America/New_York", (start, end))
    conn.rollback()


def test_received_daily_counts_readings_received_per_london_day(
        live_api: LiveApi, conn: psycopg.Connection) -> None:
    """Both paths' readings_received_daily: local days of Europe/London (23 and 25 hours on
    the clock-change days), low-quality readings (codes.LOW_QUALITY_FLAGS) left out."""
    bob = live_api.world.patients["bob"]
    rng = random.Random(2)
    points = [(day_start(d, ZONE) + timedelta(minutes=m), list(rng.choice(FLAGS)))
              for d in (SPRING - timedelta(days=1), SPRING, AUTUMN, AUTUMN + timedelta(days=1))
              for m in (0, 59, 61, 120, 23 * 60 - 1, 24 * 60 - 1, 24 * 60 + 59)]
    _store(conn, bob, "pulse", points)    # the i-th reading's value is 70 + i % 5
    conn.commit()
    expected: dict[datetime, list[float]] = {}
    for i, (at, flags) in enumerate(points):
        if not is_low_quality(flags):
            expected.setdefault(day_start(service_date(at, ZONE), ZONE), []).append(70.0 + i % 5)
    query = ("SELECT day, n, min, max, mean FROM readings_received_daily "
             "WHERE patient_id = %s AND metric = %s ORDER BY day")
    with psycopg.connect(live_api.db_url, autocommit=True) as admin:
        refresh_daily_aggregates(admin)
        rows = conn.execute(query, (bob, "pulse")).fetchall()
        assert [r["day"] for r in rows] == sorted(expected)
        for r in rows:
            v = expected[r["day"]]
            assert (r["n"], r["min"], r["max"]) == (len(v), min(v), max(v))
            assert r["mean"] == pytest.approx(sum(v) / len(v))
        lengths = {(b - a) for a, b in zip(sorted(expected), sorted(expected)[1:], strict=False)}
        assert timedelta(hours=23) in lengths and timedelta(hours=25) in lengths
        # Real-time aggregation: a reading of this moment shows before any refresh.
        now = datetime.now(UTC).replace(microsecond=0)
        _store(conn, bob, "spo2", [(now, []), (now, ["low-quality"])])
        conn.commit()
        [today] = conn.execute(query, (bob, "spo2")).fetchall()
        assert (today["day"], today["n"]) == (day_start(service_date(now, ZONE), ZONE), 1)
    conn.commit()
