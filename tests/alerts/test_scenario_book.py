"""The clinical scenario book (docs/clinical-safety/scenarios) through the real broker and hub:
each scenario's readings are published as its devices would send them, in arrival order,
at every hour of the London day the suite may run (tests/clock_anchors.py), and the open
alerts of each patient must be exactly the scenario's."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from alerts import scenario_book as book
from alerts.catalogue import load_catalogue
from alerts.lifecycle import Actor, resolve
from alerts.scheduler import Scheduler
from telehub.config import Settings
from telehub.domain import clock
from telehub.domain.units import Metric
from tests.alerts.conftest import Clinic
from tests.alerts.test_scenarios import Device, hub  # noqa: F401 (fixture)
from tests.clock_anchors import ANCHORS, LONDON, anchor_id

COMMITS = True
SCENARIOS = book.load_book()
# Rules no reading can fire: the scheduler's device checks and telecare events have their
# own tests (tests/alerts/test_scheduler*.py, tests/simulators/test_telecare*.py).
NOT_FROM_READINGS = {"device-offline", "sequence-gap"}


def test_the_book_has_sixty_scenarios_and_every_rule_fires_in_one() -> None:
    assert len(SCENARIOS) >= 60
    rules = {rule.id for rule in load_catalogue().rules}
    missing = rules - book.covered_rules(SCENARIOS) - NOT_FROM_READINGS
    assert not missing, f"rules no scenario fires: {sorted(missing)}"
    assert sum(1 for s in SCENARIOS if not s.expect) >= 10      # expected silence


@pytest.fixture(params=ANCHORS, ids=anchor_id)
def anchor(request: pytest.FixtureRequest) -> Iterator[datetime]:
    service_clock = clock.FixedClock(request.param)
    with clock.use_clock(service_clock):
        yield request.param


def _stored(clinic: Clinic) -> int:
    clinic.conn.commit()
    row = clinic.conn.execute("SELECT count(*) AS n FROM readings").fetchone()
    assert row is not None
    return int(row["n"])


def _wait_stored(clinic: Clinic, n: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _stored(clinic) >= n:
            time.sleep(0.3)         # the last batch's alerts commit with its readings
            clinic.conn.commit()
            return
        time.sleep(0.05)
    raise AssertionError(f"{_stored(clinic)} of {n} readings stored")


def test_every_scenario_raises_exactly_its_alerts(
        clinic: Clinic, hub: Settings, pool: ConnectionPool,  # noqa: F811
        anchor: datetime) -> None:
    service_clock = clock.current()
    assert isinstance(service_clock, clock.FixedClock)
    patients: dict[str, int] = {}
    device = Device(hub)
    sent = 0
    try:
        for now, group in book.in_clock_order(SCENARIOS, anchor, LONDON):
            service_clock.set(now)
            for scenario in group:
                patients[scenario.id] = book.register(clinic.conn, scenario, clinic.team_id,
                                                      clinic.next_nhs_number(), now)
            clinic.conn.commit()
            for step in range(1, max(s.sends for s in group) + 1):
                for scenario in group:
                    sent += _send(device, clinic, scenario, patients[scenario.id], step, now)
                _wait_stored(clinic, sent)
                for scenario in group:
                    if scenario.resolve_after == step:
                        _close_alerts(clinic, patients[scenario.id])
        if any(s.scheduler for s in SCENARIOS):
            assert Scheduler(hub, pool).run_once(service_clock.now()) is not None
    finally:
        device.close()
    clinic.conn.commit()
    cur = clinic.conn.cursor(row_factory=dict_row)
    rows = cur.execute("SELECT * FROM alerts ORDER BY id").fetchall()
    by_patient: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_patient[row["patient_id"]].append(row)
    failures = []
    for scenario in SCENARIOS:
        problems = book.compare(scenario, by_patient[patients[scenario.id]])
        if problems:
            failures.append(f"{scenario.id} ({scenario.title}):\n    " + "\n    ".join(problems))
    assert not failures, f"{len(failures)} scenarios at {anchor:%Y-%m-%d %H:%M %Z}:\n" + \
        "\n".join(failures)


def _send(device: Device, clinic: Clinic, scenario: book.Scenario, pid: int, step: int,
          now: datetime) -> int:
    """Publish the scenario's readings of `step`, one message per device; how many."""
    by_device: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for metric, items in book.arrivals(scenario, step, now, LONDON).items():
        by_device[clinic.device_name(pid, Metric(metric))].extend(items)
    clinic.conn.commit()
    for name, items in by_device.items():
        device.send(name, items)
    if scenario.status == "discharged":
        return 0                # the hub refuses a discharged patient's readings (kept aside)
    return sum(len(items) for items in by_device.values())


def _close_alerts(clinic: Clinic, pid: int) -> None:
    """The nurse reviews the patient and closes every open alert ("advice given")."""
    clinic.conn.commit()
    for alert in clinic.alerts(pid):
        if alert["status"] != "resolved":
            resolve(clinic.conn, alert["id"], Actor(None, "matron.scenario"), "advice-given")
    clinic.conn.commit()


def test_scenario_times_keep_the_wall_clock_on_clock_change_days() -> None:
    spring = datetime(2026, 3, 29, 12, 0, tzinfo=LONDON)     # BST since 01:00 GMT
    assert book.resolve_time("today 07:30", spring, LONDON).isoformat() == \
        "2026-03-29T06:30:00+00:00"
    assert book.resolve_time("-1d 07:30", spring, LONDON).isoformat() == \
        "2026-03-28T07:30:00+00:00"
    assert book.resolve_time("now-8h", spring, LONDON).isoformat() == \
        "2026-03-29T03:00:00+00:00"
    with pytest.raises(Exception, match="not a scenario time"):
        book.resolve_time("tomorrow 07:30", spring, LONDON)


def test_a_book_with_an_unknown_rule_or_field_is_refused(tmp_path: Any) -> None:
    (tmp_path / "bad.toml").write_text("""
[[scenario]]
id = "X-1"
title = "unknown rule"
patient = { conditions = ["copd"] }
readings = [{ at = "now-30m", metric = "spo2", value = 91, unit = "%" }]
expect = [{ rule = "spo2-very-low", severity = "red" }]
""")
    with pytest.raises(Exception, match="X-1: expects unknown rule"):
        book.load_book(tmp_path)
    (tmp_path / "bad.toml").write_text("""
[[scenario]]
id = "X-2"
title = "a typo"
patient = { conditions = ["copd"], spo2_sclae = 2 }
readings = []
expect = []
""")
    with pytest.raises(Exception, match="unknown patient field"):
        book.load_book(tmp_path)
