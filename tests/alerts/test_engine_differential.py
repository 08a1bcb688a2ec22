"""The engine against its reference (tests/alerts/reference_engine, the engine as it was
before rule summaries): the same readings, stored and evaluated the same way on two fresh
databases, must leave exactly the same alerts (episode, rule, severity, sentence, values,
breach times, occurrences, status, clearing) and the same alert events.

Inputs: the scenario book (docs/clinical-safety/scenarios) through the hub's batch
transaction at the hours the scenario test runs it, and the alert-burden caseload
(`telehub bench alert-burden`'s engine variant: simulated physiology, the scheduler each
hour, nurses resolving at 17:00). The book runs at every anchor; the caseload is small in
the normal suite and the benchmark's full one (200 patients, 30 days) in the `slow` test."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg import sql

from alerts import engine
from alerts import scenario_book as book
from bench.alert_burden import BurdenSizes, simulate_in_process
from bench.book_burden import ANCHORS, run_book
from telehub.config import IngestSettings, Settings, get_settings
from telehub.db.pool import connect
from tests.alerts.reference_engine import engine as reference
from tests.conftest import _with_database
from tests.databases import clone_database

Rules = Callable[..., None]
END = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)

# Every column an engine writes; ids and the database's own now() are left out.
_ALERTS_SQL = """
SELECT p.nhs_number, a.rule_id, a.severity::text, a.status::text, a.escalated, a.message,
       a.metric::text, a.first_breach_at, a.last_breach_at, a.occurrences, a.values, a.late,
       a.condition_cleared_at, a.resolved_at, a.outcome::text
  FROM alerts a JOIN patients p ON p.id = a.patient_id
 ORDER BY p.nhs_number, a.rule_id, a.first_breach_at, a.id
"""
_EVENTS_SQL = """
SELECT p.nhs_number, a.rule_id, a.first_breach_at, e.kind, e.note
  FROM alert_events e JOIN alerts a ON a.id = e.alert_id JOIN patients p ON p.id = a.patient_id
 ORDER BY p.nhs_number, a.rule_id, a.first_breach_at, e.id
"""


@pytest.fixture
def two_dbs(pg_admin_url: str, template_db: str) -> Iterator[tuple[str, str]]:
    """Two fresh, migrated databases: one for the reference, one for the engine."""
    names = [f"telehub_d_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    for name in names:
        clone_database(pg_admin_url, name, template_db)
    yield _with_database(pg_admin_url, names[0]), _with_database(pg_admin_url, names[1])
    with psycopg.connect(pg_admin_url, autocommit=True) as admin:
        for name in names:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                          .format(sql.Identifier(name)))


def _outcome(conn: psycopg.Connection[Any]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    conn.commit()
    with conn.cursor(row_factory=psycopg.rows.tuple_row) as cur:
        alerts = cur.execute(_ALERTS_SQL).fetchall()
        events = cur.execute(_EVENTS_SQL).fetchall()
    return alerts, events


def _assert_same(expected: tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]],
                 got: tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]) -> None:
    for name, want, have in (("alerts", expected[0], got[0]), ("events", expected[1], got[1])):
        missing = [row for row in want if row not in have]
        extra = [row for row in have if row not in want]
        assert not missing and not extra and want == have, (
            f"{name} differ: reference only {missing[:5]}, engine only {extra[:5]}")


def _book(url: str, rules: Rules, anchors: tuple[datetime, ...]) -> list[Any]:
    """The book's alerts and events at each anchor, each anchor on an emptied database."""
    scenarios = book.load_book()
    out = []
    with connect(url) as conn:
        for anchor in anchors:
            run_book(conn, scenarios, anchor, rules=rules)
            out.append(_outcome(conn))
            conn.execute("TRUNCATE alerts, alert_events, outbox, readings, devices, thresholds, "
                         "patients, teams RESTART IDENTITY CASCADE")
            conn.commit()
    return out


def _caseload(url: str, rules: Rules, sizes: BurdenSizes) -> Any:
    settings = Settings(database_url=url, ingest=IngestSettings(metrics_port=0))
    get_settings.cache_clear()
    with connect(url) as conn:
        simulate_in_process(conn, settings, sizes, end=END, rules=rules)
        return _outcome(conn)


def _compare_book(dbs: tuple[str, str], anchors: tuple[datetime, ...]) -> None:
    expected = _book(dbs[0], reference.evaluate, anchors)
    got = _book(dbs[1], engine.evaluate, anchors)
    assert any(alerts for alerts, _ in expected)      # the book raises alerts at every anchor
    for anchor, want, have in zip(anchors, expected, got, strict=True):
        assert want[0], f"no alerts at {anchor}"
        _assert_same(want, have)


def _compare_caseload(dbs: tuple[str, str], sizes: BurdenSizes) -> None:
    expected = _caseload(dbs[0], reference.evaluate, sizes)
    got = _caseload(dbs[1], engine.evaluate, sizes)
    assert len({row[1] for row in expected[0]}) >= 3     # several episodes raised
    _assert_same(expected, got)


def test_the_book_raises_what_the_reference_raises(two_dbs: tuple[str, str]) -> None:
    _compare_book(two_dbs, ANCHORS)


def test_a_caseload_raises_what_the_reference_raises(two_dbs: tuple[str, str]) -> None:
    _compare_caseload(two_dbs, BurdenSizes(patients=30, days=10))


@pytest.mark.slow
def test_the_burden_caseload_raises_what_the_reference_raises(two_dbs: tuple[str, str]) -> None:
    _compare_caseload(two_dbs, BurdenSizes())
