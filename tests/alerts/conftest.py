"""Fixtures for the alerts tests: a team, patients, devices and a way to store readings."""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from itertools import count
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from alerts.engine import evaluate
from alerts.scheduler import Scheduler
from telehub.care import registration as registry
from telehub.config import Settings, parse_mqtt_url
from telehub.db.pool import connect, open_pool
from telehub.domain.nhs_number import synthetic_nhs_numbers
from telehub.domain.readings import StoredReading
from telehub.domain.units import SPECS, Metric, Unit
from tests.databases import clone_database

# A fixed clock: Thursday 26 November 2026, 10:00 UTC (10:00 in London, GMT).
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
_KIND = {Metric.WEIGHT: "scale", Metric.SPO2: "oximeter", Metric.PULSE: "oximeter",
         Metric.GLUCOSE: "glucometer"}
_keys = count()


class Clinic:
    """A team with patients and their devices in one test database."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self.team_id = registry.add_team(conn, "north", "North Locality")
        self._nhs = synthetic_nhs_numbers(int(datetime.now().timestamp()) % 500_000)
        self.devices: dict[tuple[int, str], int] = {}
        self.device_names: dict[tuple[int, str], str] = {}
        self.nhs: dict[int, str] = {}

    def next_nhs_number(self) -> str:
        """A valid synthetic NHS number no patient of this clinic has."""
        return next(self._nhs)

    def patient(self, conditions: Iterable[str] = (), **kwargs: Any) -> int:
        nhs = next(self._nhs)
        pid = registry.add_patient(self.conn, nhs_number=nhs, given_name="Test",
                                   family_name=f"Patient{len(self.nhs)}",
                                   birth_date=date(1940, 1, 1), team=self.team_id,
                                   conditions=conditions, **kwargs)
        self.nhs[pid] = nhs
        return pid

    def device(self, pid: int, metric: Metric) -> int:
        kind = _KIND[metric]
        if (pid, kind) not in self.devices:
            name = f"{kind}-{pid}-{next(_keys)}"
            self.devices[(pid, kind)] = registry.add_device(
                self.conn, device_id=name, kind=kind, patient=pid)
            self.device_names[(pid, kind)] = name
        return self.devices[(pid, kind)]

    def device_name(self, pid: int, metric: Metric) -> str:
        """The device id a patient's device publishes under (registered on first use)."""
        self.device(pid, metric)
        return self.device_names[(pid, _KIND[metric])]

    def store(self, pid: int, metric: Metric, value: float, at: datetime, *,
              raw: tuple[float, Unit] | None = None, flags: Sequence[str] = ()) -> StoredReading:
        """Insert one reading with SQL, as ingest does, and return it as ingest hands it over."""
        spec = SPECS[metric]
        raw_value, raw_unit = raw if raw else (value, spec.canonical)
        dev = self.device(pid, metric)
        key = f"k{next(_keys)}"
        row = self.conn.execute(
            "INSERT INTO readings (time, patient_id, device_id, metric, value, unit, raw_value, "
            "raw_unit, reading_key, flags) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) "
            "RETURNING received_at",
            (at, pid, dev, metric.value, value, spec.canonical.value, raw_value, raw_unit.value,
             key, list(flags))).fetchone()
        assert row is not None
        return StoredReading(time=at, patient_id=pid, device_id=dev, metric=metric, value=value,
                             unit=spec.canonical, raw_value=raw_value, raw_unit=raw_unit,
                             received_at=row["received_at"], flags=tuple(flags),
                             reading_key=key)

    def feed(self, pid: int, metric: Metric, value: float, at: datetime, *,
             now: datetime | None = None, **kwargs: Any) -> StoredReading:
        """Store one reading and evaluate it, as one ingest batch."""
        r = self.store(pid, metric, value, at, **kwargs)
        evaluate(self.conn, [r], now=now or at)
        return r

    def series(self, pid: int, metric: Metric, values: Sequence[float], start: datetime,
               step: timedelta, *, now: datetime | None = None) -> list[StoredReading]:
        """Store and evaluate readings one at a time, `step` apart."""
        return [self.feed(pid, metric, v, start + k * step, now=now) for k, v in enumerate(values)]

    def alerts(self, pid: int | None = None) -> list[dict[str, Any]]:
        cur = self.conn.cursor(row_factory=dict_row)
        if pid is None:
            return cur.execute("SELECT * FROM alerts ORDER BY id").fetchall()
        return cur.execute("SELECT * FROM alerts WHERE patient_id = %s ORDER BY id",
                           (pid,)).fetchall()

    def alert(self, pid: int, episode: str) -> dict[str, Any] | None:
        found = [a for a in self.alerts(pid) if a["rule_id"] == episode]
        assert len(found) <= 1
        return found[0] if found else None

    def outbox(self) -> list[dict[str, Any]]:
        cur = self.conn.cursor(row_factory=dict_row)
        return cur.execute("SELECT * FROM outbox ORDER BY id").fetchall()

    def deliveries(self) -> list[dict[str, Any]]:
        """Every outbox delivery (one per channel of each event), with its event's alert."""
        cur = self.conn.cursor(row_factory=dict_row)
        return cur.execute("SELECT d.*, o.alert_id FROM outbox_deliveries d "
                           "JOIN outbox o ON o.id = d.outbox_id ORDER BY d.id").fetchall()


def commit_red_alert(clinic: Clinic, value: float = 88) -> int:
    """A COPD patient whose SpO2 `value` raised a red alert, committed for other processes."""
    pid = clinic.patient(["copd"])
    clinic.feed(pid, Metric.SPO2, value, NOW)
    clinic.conn.commit()
    return pid


@pytest.fixture
def pool(settings: Settings) -> Iterator[ConnectionPool]:
    p = open_pool(settings.require_database_url(), max_size=4, name="alerts-test")
    yield p
    p.close()


@pytest.fixture
def scheduler(settings: Settings) -> Iterator[Scheduler]:
    """The hub's alert scheduler on a pool of its own (its passes run at the time given)."""
    p: ConnectionPool = open_pool(settings.require_database_url(), max_size=2,
                                  name="scheduler-test")
    yield Scheduler(settings, p)
    p.close()


class Subscriber:
    """A real MQTT client collecting the alert messages of one topic filter."""

    def __init__(self, url: str, topic: str) -> None:
        endpoint = parse_mqtt_url(url)
        self.messages: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self._ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda c, u, m, r, p: self._ready.set()
        self.client.on_message = lambda c, u, m: self.messages.put(
            (m.topic, json.loads(m.payload)))
        self.client.connect(endpoint.host, endpoint.port)
        self.client.loop_start()
        assert self._ready.wait(10), "subscription not confirmed"

    def take(self, n: int, timeout: float = 10.0) -> list[tuple[str, dict[str, Any]]]:
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            out.append(self.messages.get(timeout=max(0.01, deadline - time.monotonic())))
        return out

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def subscriber(settings: Settings) -> Iterator[Subscriber]:
    sub = Subscriber(settings.require_mqtt().url(with_password=True),
                     f"{settings.topic_root}/alerts/#")
    yield sub
    sub.close()


@pytest.fixture(scope="session")
def scratch_db_url(pg_admin_url: str, template_db: str) -> Iterator[str]:
    """One migrated database shared by the tests that never commit (each one rolls back)."""
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = f"telehub_alerts_{uuid.uuid4().hex[:12]}"
    clone_database(pg_admin_url, name, template_db)
    yield make_conninfo(**{**conninfo_to_dict(pg_admin_url), "dbname": name})
    with psycopg.connect(pg_admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                      .format(sql.Identifier(name)))


@pytest.fixture
def clinic(request: pytest.FixtureRequest) -> Iterator[Clinic]:
    """A team in a database of the test's own when its module says COMMITS = True (other
    processes must see the data); otherwise in a shared database, rolled back afterwards."""
    if getattr(request.module, "COMMITS", False):
        yield Clinic(request.getfixturevalue("conn"))
        return
    with connect(request.getfixturevalue("scratch_db_url")) as c:
        try:
            yield Clinic(c)
        finally:
            c.rollback()


Feed = Callable[..., StoredReading]
