"""Dashboard fixtures: the real API served by uvicorn in a thread on this test's database,
a seeded team with staff, patients, devices, readings and alerts, and AppTest helpers."""

from __future__ import annotations

import functools
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
import uvicorn
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from streamlit.testing.v1 import AppTest

from telehub.care import registration as registry
from telehub.config import Settings, get_settings
from telehub.db.pool import connect
from telehub.domain import clock
from tests.clock_anchors import days_before
from tests.databases import clone_database
from tests.log_guard import GUARD, LogGuard

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
PASSWORD = "correct-horse-battery"  # test staff's password (≥ 10 characters)


def free_port() -> int:
    """A TCP port nobody listens on just now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def api_url(settings: Settings) -> Iterator[str]:
    """The real API (`api.main.create_app`) on this test's database, on a free port."""
    with serving_api(settings) as url:
        yield url


@contextmanager
def serving_api(settings: Settings) -> Iterator[str]:
    """uvicorn serving `api.main.create_app(settings)` in a thread; its URL once it is ready."""
    from api.main import create_app
    from api.server import server_config

    port = free_port()
    server = uvicorn.Server(server_config(create_app(settings), settings.api, host="127.0.0.1",
                                          port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="test-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API did not start")
        time.sleep(0.02)
    url = f"http://127.0.0.1:{port}"
    # The pool opens in the background: wait until the API can reach its database.
    while httpx.get(f"{url}/readyz").status_code != 200:
        if time.monotonic() > deadline:
            raise RuntimeError("the API never became ready")
        time.sleep(0.05)
    yield url
    server.should_exit = True
    server.force_exit = True  # do not wait for the dashboard's idle keep-alive connections
    thread.join(10)


@dataclass(frozen=True)
class Seeded:
    """Who and what a test's database holds."""

    team_id: int
    other_team_id: int
    nurse_id: int
    matron_id: int
    red_patient: int
    amber_patient: int
    green_patient: int
    other_team_patient: int
    red_alert: int


def _patient(conn: psycopg.Connection, nhs: str, given: str, family: str, team: int,
             nurse: int | None, conditions: list[str], address: str | None = None,
             postcode: str | None = None, phone: str | None = None) -> int:
    return registry.add_patient(conn, nhs_number=nhs, given_name=given, family_name=family,
                                birth_date=date(1944, 5, 17), team=team,
                                conditions=conditions, named_nurse_id=nurse,
                                address_line=address, postcode=postcode, phone=phone)


def _readings(conn: psycopg.Connection, patient: int, device: int, metric: str, unit: str,
              values: list[float], now: datetime) -> None:
    """One reading on each of the last len(values) London days, the last one an hour ago."""
    n = len(values)
    for i, value in enumerate(values):
        at = days_before(now - timedelta(hours=1), n - 1 - i)
        conn.execute(
            "INSERT INTO readings (time, patient_id, device_id, metric, value, unit, raw_value, "
            "raw_unit, reading_key) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (at, patient, device, metric, value, unit, value, unit, f"r{i}"))


def add_alert(conn: psycopg.Connection, patient: int, team: int, rule: str, severity: str,
              metric: str, message: str, at: datetime, latest: float) -> int:
    """An open alert with its 'opened' event, as the rules engine writes it."""
    row = conn.cursor(row_factory=dict_row).execute(
        "INSERT INTO alerts (patient_id, team_id, rule_id, severity, message, metric, "
        "first_breach_at, last_breach_at, values, created_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (patient, team, rule, severity, message, metric, at, at,
         Jsonb({"latest": {"value": latest, "time": at.isoformat()}}),
         at)).fetchone()
    assert row is not None
    alert_id = int(row["id"])
    conn.execute("INSERT INTO alert_events (alert_id, at, kind, actor) "
                 "VALUES (%s, %s, 'opened', 'system')", (alert_id, at))
    return alert_id


@functools.cache
def _password_hash() -> str:
    """PASSWORD hashed once per run: argon2 is slow on purpose, and every test signs in."""
    from telehub.passwords import hash_password

    return hash_password(PASSWORD)


def add_staff(conn: psycopg.Connection, username: str, display_name: str, role: str,
              team: int | None = None) -> int:
    """A member of staff who signs in with PASSWORD."""
    staff_id = registry.add_staff(conn, username=username, display_name=display_name,
                                  role=role, team=team)
    conn.execute("UPDATE staff SET password_hash = %s WHERE id = %s",
                 (_password_hash(), staff_id))
    return staff_id


@pytest.fixture
def seeded(db_url: str, log_guard: LogGuard) -> Seeded:
    """Two teams; a nurse and a matron in the first with a red, an amber and a green patient."""
    return seed(db_url, log_guard)


def seed(db_url: str, log_guard: LogGuard) -> Seeded:
    """Write the test trust (see `seeded`) into the database at `db_url`, placed before the
    service clock's now."""
    now = clock.now()
    with connect(db_url) as conn:
        team = registry.add_team(conn, "north-test", "North Test Team")
        other = registry.add_team(conn, "south-test", "South Test Team")
        nurse = add_staff(conn, "nurse.north", "Grace Okafor", "nurse", team)
        matron = add_staff(conn, "matron.north", "Ruth Calder", "matron", team)
        add_staff(conn, "nurse.south", "Tom Hargreaves", "nurse", other)
        add_staff(conn, "site.admin", "Site Admin", "admin")
        green = _patient(conn, "9434765919", "Margaret", "Ashworth", team, nurse,
                         ["heart-failure"])
        amber = _patient(conn, "9434765870", "John", "Brierley", team, matron, ["copd"])
        red = _patient(conn, "9434765889", "Patricia", "Clegg", team, nurse, ["copd"],
                       address="12 Aire Street", postcode="LS1 4AB", phone="0113 496 0000")
        away = _patient(conn, "9434765897", "David", "Dewhurst", other, None, ["copd"])
        log_guard.register("Margaret", "Ashworth", "Brierley", "Patricia", "Clegg", "Dewhurst")
        scale = registry.add_device(conn, device_id="scale-g1", kind="scale", patient=green)
        oxi_a = registry.add_device(conn, device_id="oxi-a1", kind="oximeter", patient=amber)
        oxi_r = registry.add_device(conn, device_id="oxi-r1", kind="oximeter", patient=red)
        oxi_o = registry.add_device(conn, device_id="oxi-o1", kind="oximeter", patient=away)
        conn.execute("UPDATE devices SET online = true, last_seen_at = %s, battery = 76",
                     (now - timedelta(minutes=5),))
        conn.execute("UPDATE patients SET enrolled_at = %s", (now - timedelta(days=60),))
        _readings(conn, green, scale, "weight", "kg", [81.0, 81.2, 80.9, 81.1, 81.3, 81.0, 81.2],
                  now)
        _readings(conn, amber, oxi_a, "spo2", "%", [95, 94, 95, 93, 93, 92, 92], now)
        _readings(conn, red, oxi_r, "spo2", "%", [94, 94, 93, 92, 91, 90, 89], now)
        _readings(conn, away, oxi_o, "spo2", "%", [96, 96, 95, 96, 95, 96, 96], now)
        add_alert(conn, amber, team, "spo2-scale1-amber", "amber", "spo2",
                  "SpO2 92 % is at or below the amber limit of 93 %.", now - timedelta(hours=3),
                  92)
        red_alert = add_alert(conn, red, team, "spo2-scale1-red", "red", "spo2",
                              "SpO2 89 % is at or below the red limit of 91 %: urgent review.",
                              now - timedelta(hours=1), 89)
    return Seeded(team, other, nurse, matron, red, amber, green, away, red_alert)


def _dashboard_for(api: str, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("TELEHUB_API_URL", api)
    get_settings.cache_clear()
    import streamlit as st

    st.cache_data.clear()
    return AppTest.from_file(str(APP), default_timeout=30)


@pytest.fixture
def app_test(api_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    """The dashboard's entry script under AppTest, pointed at the test's API."""
    yield _dashboard_for(api_url, monkeypatch)
    get_settings.cache_clear()


@dataclass(frozen=True)
class Shared:
    """One seeded database and API for a module's tests that only read."""

    api_url: str
    db_url: str
    seeded: Seeded


@pytest.fixture(scope="module")
def shared(pg_admin_url: str, template_db: str, broker: dict[str, object],
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    """A seeded database and the API on it, shared by a module's read-only tests (tests
    that change data use `seeded` and `app_test`, which are their own)."""
    name = f"telehub_d_{uuid.uuid4().hex[:12]}"
    clone_database(pg_admin_url, name, template_db)
    url = make_conninfo(pg_admin_url, dbname=name)
    try:
        data = seed(url, GUARD)
        settings = Settings(database_url=url, mqtt_url=str(broker["url"]),
                            topic_root=f"test/{uuid.uuid4().hex[:12]}/telehub/v1",
                            data_dir=tmp_path_factory.mktemp("dashboard"))
        with serving_api(settings) as api:
            yield Shared(api, url, data)
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                          .format(sql.Identifier(name)))


@pytest.fixture
def shared_app(shared: Shared, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    """The dashboard under AppTest against the module's shared API (read-only tests)."""
    yield _dashboard_for(shared.api_url, monkeypatch)
    get_settings.cache_clear()


def sign_in(at: AppTest, username: str, password: str = PASSWORD) -> AppTest:
    """Fill and submit the sign-in form."""
    at.run()
    at.text_input(key="signin_username").input(username)
    at.text_input(key="signin_password").input(password)
    next(b for b in at.button if b.label == "Sign in").click()
    return at.run()


# A backslash before ASCII punctuation is a markdown escape: the screen shows the character.
_MARKDOWN_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


def page_text(at: AppTest) -> str:
    """Every piece of text the page shows (markdown, captions, alerts, titles), with the
    markdown escapes free text carries (dashboard.components.text) read as the characters."""
    parts: list[str] = []
    for group in (at.title, at.header, at.subheader, at.markdown, at.caption, at.info,
                  at.warning, at.error, at.success):
        parts.extend(_MARKDOWN_ESCAPE.sub(r"\1", str(el.value)) for el in group)
    return "\n".join(parts)


def no_exceptions(at: AppTest) -> None:
    """Fail with the page's own exceptions, if it raised any."""
    assert not at.exception, [e.message for e in at.exception]
