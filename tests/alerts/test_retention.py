"""Retention: each table trimmed to its setting in batches, the audit log, alerts and
undelivered notifications never touched, too-short settings refused.

The readings take the path the test database has: on plain PostgreSQL every reading before
the cut goes, row by row; where TimescaleDB holds them as a hypertable, every 7-day chunk that
ends at or before the cut goes whole and every other chunk stays whole. The TimescaleDB
expectations are read from its chunk catalogue before the pass, never from the pass."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from psycopg_pool import ConnectionPool
from pydantic import ValidationError

from alerts.catalogue import load_catalogue
from alerts.lifecycle import Actor, resolve
from alerts.retention import (
    OUTBOX,
    READINGS,
    REJECTED,
    check_policy,
    cut_before,
    rules_lookback,
)
from alerts.scheduler import LAST_READING_HORIZON, SCHEDULER_LOCK_KEY, Scheduler
from telehub.config import IngestSettings, RetentionSettings, Settings
from telehub.db.pool import connect, open_pool
from telehub.db.timescale import readings_is_hypertable
from telehub.domain.units import Metric
from telehub.errors import ConfigError
from tests.alerts.conftest import NOW, Clinic
from tests.alerts.retention_data import (
    DAY,
    POLICY,
    SECOND,
    add_audit,
    add_outbox_event,
    add_rejected,
    check_pass,
    column,
    count_rows,
    expect_pass,
    old_everything,
)
from tests.clock_anchors import ANCHORS, LONDON, anchor_id

# The scheduler's own pool reads what the test wrote: it commits.
COMMITS = True

ROOT = Path(__file__).resolve().parents[2]
KEEP_ALL: dict[str, Any] = {}


def _settings(settings: Settings, **retention: Any) -> Settings:
    return settings.model_copy(update={"retention": RetentionSettings(**retention)})


@pytest.fixture
def pools(settings: Settings) -> Iterator[list[ConnectionPool]]:
    made: list[ConnectionPool] = []
    yield made
    for p in made:
        p.close()


def _scheduler(settings: Settings, pools: list[ConnectionPool], **retention: Any) -> Scheduler:
    pool = open_pool(settings.require_database_url(), max_size=2, name="retention-test")
    pools.append(pool)
    return Scheduler(_settings(settings, **retention), pool)


def test_by_default_everything_is_kept(clinic: Clinic, settings: Settings,
                                       pools: list[ConnectionPool]) -> None:
    pid = clinic.patient(["heart-failure"])
    old_everything(clinic, NOW, pid)
    before = {t: count_rows(clinic.conn, t) for t in (READINGS, REJECTED, OUTBOX, "audit_log")}
    scheduler = _scheduler(settings, pools, **KEEP_ALL)
    assert not scheduler.retention.enabled
    assert scheduler.run_once(NOW) is not None
    assert scheduler.retention.run_once(NOW) is None
    assert {t: count_rows(clinic.conn, t) for t in before} == before


def test_each_table_is_trimmed_to_its_setting_in_batches(clinic: Clinic, settings: Settings,
                                                         pools: list[ConnectionPool]) -> None:
    pid = clinic.patient(["heart-failure"])
    old_everything(clinic, NOW, pid)
    conn = clinic.conn
    cut = cut_before(NOW, 90, LONDON)
    expected = expect_pass(conn, cut)
    if not readings_is_hypertable(conn):
        assert expected.kept == [cut, cut + DAY]
    assert cut - 400 * DAY not in expected.kept and cut in expected.kept
    scheduler = _scheduler(settings, pools, **POLICY, batch_rows=1)
    assert scheduler.run_once(NOW) is not None          # the pass runs retention after it
    assert column(conn, "SELECT time FROM readings ORDER BY time") == expected.kept
    assert count_rows(conn, REJECTED) == 1
    kept = column(conn, "SELECT max(d.delivered_at) FROM outbox o "
                         "JOIN outbox_deliveries d ON d.outbox_id = o.id GROUP BY o.id")
    assert kept == [cut_before(NOW, 30, LONDON)]
    assert count_rows(conn, "outbox_deliveries") == 2        # the deleted event's went with it
    assert count_rows(conn, "audit_log") == 3
    # Nothing left to do: a second pass deletes nothing.
    again = scheduler.retention.run_once(NOW)
    assert again is not None and (again.total, again.chunks_dropped) == (0, 0)


def test_a_pass_deletes_in_batches_and_stops_at_its_budget(
        clinic: Clinic, settings: Settings, pools: list[ConnectionPool]) -> None:
    for k in range(25):
        add_rejected(clinic.conn, NOW - (20 + k) * DAY)
    clinic.conn.commit()
    retention = _scheduler(settings, pools, rejected_days=7, batch_rows=4,
                           max_rows_per_pass=10).retention
    passes = [retention.run_once(NOW) for _ in range(4)]
    assert [(p.deleted[REJECTED], p.batches) for p in passes if p] == [
        (10, 3), (10, 3), (5, 2), (0, 1)]
    assert count_rows(clinic.conn, REJECTED) == 0


def test_the_audit_log_alerts_and_their_events_are_never_deleted(
        clinic: Clinic, settings: Settings, pools: list[ConnectionPool]) -> None:
    pid = clinic.patient(["copd"])
    long_ago = NOW - 500 * DAY
    clinic.feed(pid, Metric.SPO2, 88, long_ago)
    alert = clinic.alert(pid, "spo2-low")
    assert alert is not None
    resolve(clinic.conn, alert["id"], Actor(None, "nurse"), "advice-given")
    add_audit(clinic.conn, long_ago)
    clinic.conn.commit()
    counts = {t: count_rows(clinic.conn, t) for t in ("alerts", "alert_events", "audit_log")}
    assert counts["alert_events"] >= 2
    expected = expect_pass(clinic.conn, cut_before(NOW, 90, LONDON))
    assert expected.kept == []
    done = _scheduler(settings, pools, **POLICY).retention.run_once(NOW)
    check_pass(clinic.conn, done, expected, rows=1)
    assert {t: count_rows(clinic.conn, t) for t in counts} == counts


def test_the_readings_an_unresolved_alert_rests_on_stay_until_it_is_resolved(
        clinic: Clinic, settings: Settings, pools: list[ConnectionPool]) -> None:
    flagged, quiet = clinic.patient(["copd"]), clinic.patient(["copd"])
    breach = NOW - 120 * DAY
    for pid in (flagged, quiet):
        for k in range(5, 0, -1):                       # the days before: 96 %
            clinic.feed(pid, Metric.SPO2, 96, breach - k * DAY)
    clinic.feed(flagged, Metric.SPO2, 88, breach)        # red, never resolved
    clinic.feed(quiet, Metric.SPO2, 97, breach)
    alert = clinic.alert(flagged, "spo2-low")
    assert alert is not None and alert["status"] == "open"
    clinic.conn.commit()
    retention = _scheduler(settings, pools, **POLICY).retention
    cut = cut_before(NOW, 90, LONDON)
    if readings_is_hypertable(clinic.conn):
        # A chunk cannot keep some rows: the cut moves back to where the alert's evidence
        # starts, so no chunk holding any of it goes (the quiet patient's readings beside
        # it stay too).
        evidence = alert["first_breach_at"] - rules_lookback(load_catalogue())
        expected = expect_pass(clinic.conn, cut, min(cut, evidence))
        assert len(expected.kept) == 12
        check_pass(clinic.conn, retention.run_once(NOW), expected, rows=0)
    else:
        done = retention.run_once(NOW)
        assert done is not None and done.deleted[READINGS] == 6
        assert count_rows(clinic.conn, READINGS, f"patient_id = {quiet}") == 0
    assert count_rows(clinic.conn, READINGS, f"patient_id = {flagged}") == 6
    resolve(clinic.conn, alert["id"], Actor(None, "matron"), "advice-given")
    clinic.conn.commit()
    expected = expect_pass(clinic.conn, cut)
    assert expected.kept == []
    check_pass(clinic.conn, retention.run_once(NOW), expected,
           rows=6 if not readings_is_hypertable(clinic.conn) else 0)
    assert clinic.alert(flagged, "spo2-low") is not None   # the alert keeps its values


def test_an_undelivered_or_unplanned_notification_is_never_deleted(
        clinic: Clinic, settings: Settings, pools: list[ConnectionPool]) -> None:
    old = NOW - 200 * DAY
    stuck = add_outbox_event(clinic.conn, old, [old, None])         # a webhook still failing
    unplanned = add_outbox_event(clinic.conn, None, [])            # never planned by a notifier
    done_ = add_outbox_event(clinic.conn, old, [old, old + SECOND])
    clinic.conn.commit()
    result = _scheduler(settings, pools, outbox_days=7).retention.run_once(NOW)
    assert result is not None and result.deleted[OUTBOX] == 1
    left = set(column(clinic.conn, "SELECT id FROM outbox"))
    assert left == {stuck, unplanned} and done_ not in left
    assert count_rows(clinic.conn, "outbox_deliveries", "delivered_at IS NULL") == 1


def test_too_short_settings_are_refused_with_a_clear_error(
        settings: Settings, pools: list[ConnectionPool], monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="greater than or equal to 90"):
        RetentionSettings(readings_days=89)
    for name in ("rejected_days", "outbox_days"):
        with pytest.raises(ValidationError, match="greater than or equal to 7"):
            RetentionSettings(**{name: 6})
    monkeypatch.setenv("TELEHUB_RETENTION__READINGS_DAYS", "30")
    with pytest.raises(ValidationError, match="readings_days"):
        Settings()
    monkeypatch.setenv("TELEHUB_RETENTION__READINGS_DAYS", "365")
    assert Settings().retention.readings_days == 365
    # Longer than 90 days but shorter than ingest's store-and-forward horizon plus the
    # rules' lookback: a late reading's rules would miss their history.
    late = settings.model_copy(update={"ingest": IngestSettings(horizon_days=85)})
    with pytest.raises(ConfigError, match="TELEHUB_RETENTION__READINGS_DAYS=90 is shorter"):
        check_policy(_settings(late, readings_days=90), LAST_READING_HORIZON)
    with pytest.raises(ConfigError, match="HORIZON_DAYS=85"):
        _scheduler(late, pools, readings_days=90)
    check_policy(_settings(late, readings_days=120), LAST_READING_HORIZON)


def _telehub(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the `telehub` command on this test's database, broker and topic root."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("TELEHUB_")}
    full.update(TELEHUB_DATABASE_URL=settings.require_database_url(),
                TELEHUB_MQTT_URL=str(settings.mqtt_url), TELEHUB_TOPIC_ROOT=settings.topic_root,
                TELEHUB_INGEST__METRICS_PORT="0", TELEHUB_INGEST__CLIENT_ID="retention-hub",
                **env)
    return subprocess.run([sys.executable, "-m", "telehub", *args], env=full, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_commands_refuse_a_too_short_period_before_doing_anything(
        clinic: Clinic, settings: Settings) -> None:
    add_rejected(clinic.conn, NOW - 400 * DAY)
    clinic.conn.commit()
    done = _telehub(settings, "migrate", TELEHUB_RETENTION__READINGS_DAYS="30",
                    TELEHUB_RETENTION__REJECTED_DAYS="3")
    assert done.returncode == 1
    assert "TELEHUB_RETENTION__READINGS_DAYS: Input should be greater than or equal to 90" \
        in done.stderr
    assert "TELEHUB_RETENTION__REJECTED_DAYS: Input should be greater than or equal to 7" \
        in done.stderr
    assert "Traceback" not in done.stderr
    # Above the floor, below what the rules need after an 85-day ingest horizon: the hub
    # refuses to start, saying how many days the rules need.
    done = _telehub(settings, "hub", TELEHUB_RETENTION__READINGS_DAYS="90",
                    TELEHUB_RETENTION__REJECTED_DAYS="7", TELEHUB_INGEST__HORIZON_DAYS="85")
    assert done.returncode == 1
    assert "TELEHUB_RETENTION__READINGS_DAYS=90 is shorter than the rules need: 94 days" \
        in done.stderr
    assert count_rows(clinic.conn, REJECTED) == 1


def test_a_patients_longer_override_keeps_readings_longer(
        clinic: Clinic, settings: Settings, pools: list[ConnectionPool],
        caplog: pytest.LogCaptureFixture) -> None:
    pid = clinic.patient(["copd"])
    at = cut_before(NOW, 90, LONDON) - 10 * DAY
    clinic.store(pid, Metric.SPO2, 96, at)
    clinic.conn.execute("INSERT INTO thresholds (patient_id, rule_id, params, reason, "
                        "set_by_name) VALUES (%s, 'spo2-baseline-drop', %s, %s, 'matron')",
                        (pid, '{"days": 100}', "baseline over a longer stable spell"))
    clinic.conn.commit()
    retention = _scheduler(settings, pools, readings_days=90).retention
    kept = expect_pass(clinic.conn, cut_before(NOW, 132, LONDON))
    assert kept.kept == [at]
    with caplog.at_level("WARNING", logger="alerts.retention"):
        for _ in range(2):
            check_pass(clinic.conn, retention.run_once(NOW), kept, rows=0)
    # 30 days of store-and-forward plus the widened window (100 days and two of margin),
    # said once, not every minute.
    assert [r.getMessage() for r in caplog.records] == [
        "retention: keeping readings 132 days, not 90: a patient's threshold override looks "
        "back further"]
    clinic.conn.execute("UPDATE thresholds SET superseded_at = now()")
    clinic.conn.commit()
    expected = expect_pass(clinic.conn, cut_before(NOW, 90, LONDON))
    assert expected.kept == []
    check_pass(clinic.conn, retention.run_once(NOW), expected, rows=1)


def test_a_second_scheduler_at_the_same_time_does_not_double_delete(
        clinic: Clinic, settings: Settings, pools: list[ConnectionPool]) -> None:
    clinic.conn.execute(
        "INSERT INTO rejected_messages (received_at, topic, reason_code, reason, payload, "
        "payload_size) SELECT %s - g * interval '1 minute', 't', 'bad-json', 'not JSON', "
        "'x', 1 FROM generate_series(1, 3000) AS g", (NOW - 30 * DAY,))
    clinic.conn.commit()
    policy = {"rejected_days": 7, "batch_rows": 50, "max_rows_per_pass": 1000}
    first, second = (_scheduler(settings, pools, **policy).retention for _ in range(2))
    # While another hub holds the scheduler's lock, a pass deletes nothing.
    with connect(settings.require_database_url()) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEDULER_LOCK_KEY,))
        assert first.run_once(NOW) is None
        assert count_rows(clinic.conn, REJECTED) == 3000
    go = threading.Barrier(2)
    deleted: list[int] = []

    def run(retention: Any) -> None:
        go.wait()
        for _ in range(3):
            done = retention.run_once(NOW)
            deleted.append(done.deleted[REJECTED] if done else 0)

    threads = [threading.Thread(target=run, args=(r,)) for r in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(n <= 1000 for n in deleted)
    assert sum(deleted) == 3000 - count_rows(clinic.conn, REJECTED)
    while (done := first.run_once(NOW)) is not None and done.total:
        deleted.append(done.total)
    assert sum(deleted) == 3000 and count_rows(clinic.conn, REJECTED) == 0


@pytest.mark.parametrize("now", ANCHORS, ids=[anchor_id(a) for a in ANCHORS])
def test_the_cut_is_local_midnight_whole_days_at_any_hour(
        clinic: Clinic, settings: Settings, pools: list[ConnectionPool], now: datetime) -> None:
    pid = clinic.patient(["heart-failure"])
    cut = cut_before(now, 90, LONDON)
    assert cut.astimezone(LONDON).time() == time(0)
    assert cut.astimezone(LONDON).date() == now.date() - 90 * DAY
    for at in (cut - SECOND, cut):
        clinic.store(pid, Metric.WEIGHT, 80.0, at)
        add_rejected(clinic.conn, at)
    expected = expect_pass(clinic.conn, cut)
    assert cut in expected.kept
    done = _scheduler(settings, pools, readings_days=90, rejected_days=90).retention.run_once(
        now.astimezone(UTC))
    check_pass(clinic.conn, done, expected, rows=1)
    assert done is not None and done.deleted[REJECTED] == 1
    if not readings_is_hypertable(clinic.conn):
        assert expected.kept == [cut]


@pytest.mark.parametrize("now, cut_local", [
    # The cut falls on the spring clock change (a 23-hour day) and the autumn one (25 hours).
    (datetime(2026, 4, 5, 9, 0, tzinfo=LONDON), datetime(2026, 3, 29, 0, 0, tzinfo=LONDON)),
    (datetime(2026, 11, 1, 9, 0, tzinfo=LONDON), datetime(2026, 10, 25, 0, 0, tzinfo=LONDON)),
], ids=["spring", "autumn"])
def test_a_clock_change_day_is_kept_or_deleted_whole(
        clinic: Clinic, settings: Settings, pools: list[ConnectionPool], now: datetime,
        cut_local: datetime) -> None:
    assert cut_before(now, 7, LONDON) == cut_local.astimezone(UTC)
    day_end = (cut_local + DAY).astimezone(UTC)   # midnight after: 23 or 25 hours later
    hours = (day_end - cut_local.astimezone(UTC)) / timedelta(hours=1)
    assert hours in (23, 25)
    times = [cut_local.astimezone(UTC) - SECOND,                   # the evening before
             cut_local.astimezone(UTC), day_end - SECOND]          # first and last second
    for at in times:
        add_rejected(clinic.conn, at)
    clinic.conn.commit()
    done = _scheduler(settings, pools, rejected_days=7).retention.run_once(now.astimezone(UTC))
    assert done is not None and done.deleted[REJECTED] == 1
    kept = column(clinic.conn, "SELECT received_at FROM rejected_messages ORDER BY received_at")
    assert kept == times[1:]


@pytest.mark.parametrize("now", [datetime(2026, 10, 20, 12, 0, tzinfo=UTC),     # BST cut
                                 datetime(2026, 2, 20, 12, 0, tzinfo=UTC)],     # GMT cut
                         ids=["summer", "winter"])
def test_every_local_day_is_kept_or_deleted_whole_on_either_path(
        clinic: Clinic, settings: Settings, pools: list[ConnectionPool], now: datetime) -> None:
    """Three weeks of two-hourly readings before the cut and some after: each local day
    before the cut goes whole or stays whole. On TimescaleDB a chunk starts at a UTC
    midnight, 01:00 in summer time, and the old chunks are compressed, as they are by then."""
    pid = clinic.patient(["heart-failure"])
    cut = cut_before(now, 90, LONDON)
    times = [cut - 21 * DAY + k * 2 * timedelta(hours=1) for k in range(24 * 12)]
    for at in times:
        clinic.store(pid, Metric.WEIGHT, 80.0, at)
    clinic.conn.commit()
    hypertable = readings_is_hypertable(clinic.conn)
    if hypertable:
        clinic.conn.execute("SELECT compress_chunk(c) FROM show_chunks('readings') c")
        clinic.conn.commit()
    expected = expect_pass(clinic.conn, cut)
    done = _scheduler(settings, pools, readings_days=90).retention.run_once(now)
    check_pass(clinic.conn, done, expected, rows=sum(1 for t in times if t < cut))
    kept = column(clinic.conn, "SELECT time FROM readings ORDER BY time")
    assert [t for t in times if t >= cut] == [t for t in kept if t >= cut]
    for day in {t.astimezone(LONDON).date() for t in times if t < cut}:
        of_day = [t for t in times if t.astimezone(LONDON).date() == day]
        assert [t for t in kept if t in of_day] in ([], of_day), day
    if hypertable:
        assert done is not None and done.chunks_dropped >= 1
        assert (expected.tail > 0) is (now.month == 10)   # summer: a split day's rest went
