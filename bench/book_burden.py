"""The scenario book's alert burden: every scenario of docs/clinical-safety/scenarios stored
and evaluated by the hub's own batch transaction (`ingest.batch_store.store_batch` with the
rules engine) under the service clock, at each hour the scenario test runs: the alerts the
book raises, by severity, against the alerts it expects, and any noise (unexpected alerts)
or misses, per anchor.

Part of `telehub bench alert-burden` (the "book" rows and params)."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from alerts import engine
from alerts import scenario_book as book
from alerts.lifecycle import Actor, resolve
from bench.databases import connect, recreate_database
from bench.report import Report, ratio
from ingest.batch_store import store_batch
from ingest.work_queue import Received
from telehub.care import registration as registry
from telehub.config import IngestSettings
from telehub.domain import clock
from telehub.domain.nhs_number import synthetic_nhs_numbers
from telehub.domain.readings import StoredReading
from telehub.mqtt.topics import readings_topic

ZONE = ZoneInfo("Europe/London")
# The hours the scenario test runs the book at (tests/clock_anchors.py says why).
ANCHORS = (
    datetime(2026, 11, 26, 6, 30, tzinfo=ZONE), datetime(2026, 11, 26, 12, 0, tzinfo=ZONE),
    datetime(2026, 11, 26, 18, 50, tzinfo=ZONE), datetime(2026, 11, 27, 0, 30, tzinfo=ZONE),
    datetime(2026, 3, 29, 8, 0, tzinfo=ZONE), datetime(2026, 10, 25, 9, 0, tzinfo=ZONE),
)
_KIND = {"weight": "scale", "spo2": "oximeter", "pulse": "oximeter", "glucose": "glucometer"}
PREFIX = "bench/book/telehub/v1"


@dataclass
class BookBurden:
    """What the book raised at one anchor."""

    anchor: datetime
    scenarios: int = 0
    expected: Counter[str] = field(default_factory=Counter)     # by severity
    raised: Counter[str] = field(default_factory=Counter)
    problems: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0


EngineEvaluate = Callable[..., None]


def run_book(conn: psycopg.Connection[Any], scenarios: Sequence[book.Scenario],
             anchor: datetime, *, rules: EngineEvaluate | None = None) -> BookBurden:
    """Run every scenario on `conn`'s empty, migrated database at `anchor`; `rules` is the
    engine's `evaluate(conn, readings, now=...)` (default: alerts.engine's)."""
    started = time.perf_counter()
    result = BookBurden(anchor, scenarios=len(scenarios))
    team = registry.add_team(conn, "book", "Scenario book")
    numbers = synthetic_nhs_numbers(4242)
    patients: dict[str, int] = {}
    devices: dict[tuple[int, str], str] = {}
    service_clock = clock.FixedClock(anchor)
    with clock.use_clock(service_clock):
        for now, group in book.in_clock_order(scenarios, anchor, ZONE):
            service_clock.set(now)
            for scenario in group:
                patients[scenario.id] = book.register(conn, scenario, team, next(numbers), now)
            for step in range(1, max(s.sends for s in group) + 1):
                messages = [_message(conn, devices, patients[s.id], metric, items, n)
                            for n, s in enumerate(group)
                            for metric, items in book.arrivals(s, step, now, ZONE).items()]
                store_batch(conn, _merged(messages), limits=IngestSettings(), prefix=PREFIX,
                            evaluate=_evaluate_at(now, rules or engine.evaluate),
                            now=now)
                for scenario in group:
                    if scenario.resolve_after == step:
                        _close(conn, patients[scenario.id])
            conn.commit()
        if any(s.scheduler for s in scenarios):
            from alerts.scheduler import check_missing

            check_missing(conn, service_clock.now(), ZONE)
            conn.commit()
    rows = conn.cursor(row_factory=dict_row).execute(
        "SELECT * FROM alerts WHERE status <> 'resolved'").fetchall()
    for scenario in scenarios:
        mine = [r for r in rows if r["patient_id"] == patients[scenario.id]]
        result.expected.update(e.severity for e in scenario.expect)
        result.raised.update(str(r["severity"]) for r in book_compared(scenario, mine))
        problems = book.compare(scenario, mine)
        if problems:
            result.problems[scenario.id] = problems
    result.seconds = time.perf_counter() - started
    return result


def _evaluate_at(now: datetime, rules: EngineEvaluate
                 ) -> Callable[[psycopg.Connection[Any], Sequence[StoredReading]], None]:
    """The rules engine at the scenario's service time, as the hub calls it."""
    def evaluate(conn: psycopg.Connection[Any], readings: Sequence[StoredReading]) -> None:
        rules(conn, readings, now=now)
    return evaluate


def book_compared(scenario: book.Scenario, alerts: Sequence[dict[str, Any]]
                  ) -> list[dict[str, Any]]:
    """The alerts a scenario is judged on (scheduler ones only where it runs the timers)."""
    kinds = {rule.id: rule.kind for rule in book.load_catalogue().rules}
    return [a for a in alerts if scenario.scheduler
            or kinds.get(book.alert_key(a)) not in book.SCHEDULER_KINDS]


def _message(conn: psycopg.Connection[Any], devices: dict[tuple[int, str], str], pid: int,
             metric: str, items: list[dict[str, Any]], n: int) -> tuple[str, list[Any]]:
    kind = _KIND[metric]
    if (pid, kind) not in devices:
        name = f"{kind}-book-{pid}"
        registry.add_device(conn, device_id=name, kind=kind, patient=pid)
        devices[(pid, kind)] = name
    return devices[(pid, kind)], items


def _merged(messages: Sequence[tuple[str, list[Any]]]) -> list[Received]:
    """One message per device, as a device sends its store-and-forward batch."""
    by_device: dict[str, list[Any]] = {}
    for name, items in messages:
        by_device.setdefault(name, []).extend(items)
    return [Received(readings_topic(name, PREFIX),
                     json.dumps({"readings": items}).encode(), mid=k + 1, qos=1,
                     received_at=clock.now().timestamp())
            for k, (name, items) in enumerate(by_device.items())]


def _close(conn: psycopg.Connection[Any], pid: int) -> None:
    open_alerts = conn.cursor(row_factory=dict_row).execute(
        "SELECT id FROM alerts WHERE patient_id = %s AND status <> 'resolved'", (pid,))
    for row in open_alerts.fetchall():
        resolve(conn, row["id"], Actor(None, "matron.bench"), "advice-given")


def report_book(admin_url: str, database: str, report: Report) -> None:
    """The scenario book at each anchor, on a fresh database each: raised against expected
    by severity, and every scenario that raised noise or missed an alert."""
    scenarios = book.load_book()
    expected = raised = 0
    seconds = 0.0
    for anchor in ANCHORS:
        url = recreate_database(admin_url, database)
        with connect(url) as conn:
            result = run_book(conn, scenarios, anchor)
        seconds += result.seconds
        for sev in ("red", "amber", "info"):
            report.add(group="book", name=f"{anchor:%Y-%m-%d %H:%M} {sev}",
                       book=f"{result.raised[sev]} / {result.expected[sev]}")
        expected += sum(result.expected.values())
        raised += sum(result.raised.values())
        report.notes.extend(f"book at {anchor:%Y-%m-%d %H:%M}: {sid}: {'; '.join(problems)}"
                            for sid, problems in result.problems.items())
    report.params["book"] = {"scenarios": len(scenarios), "anchors": len(ANCHORS),
                             "expected": expected, "raised": raised,
                             "seconds": round(seconds, 1)}
    report.ratios["book: alerts raised / expected"] = ratio(raised, expected)
