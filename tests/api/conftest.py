"""A real uvicorn server on a free port in front of each test's own database."""

from __future__ import annotations

import hashlib
import logging
import random
import secrets
import socket
import string
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
from psycopg import sql
from psycopg.conninfo import make_conninfo

from api.main import create_app
from api.server import server_config
from ingest.service import Ingest
from telehub.care import registration as registry
from telehub.config import ApiSettings, Settings
from telehub.db.pool import connect
from telehub.db.timescale import refresh_daily_aggregates
from telehub.passwords import hash_password
from tests.databases import clone_database
from tests.ingest.conftest import running_hub
from tests.log_guard import LogGuard

PASSWORD = "correct-horse-battery"  # test accounts only

# The HTTP clients' DEBUG lines carry object addresses (0x7f76…) whose digits the suite's
# log guard can take for an NHS number; these tests need neither.
for _chatty in ("httpcore", "urllib3"):
    logging.getLogger(_chatty).setLevel(logging.INFO)
_HASH: list[str] = []


def password_hash() -> str:
    """The argon2 hash of PASSWORD, computed once (hashing costs ~0.2 s by design)."""
    if not _HASH:
        _HASH.append(hash_password(PASSWORD))
    return _HASH[0]


@dataclass
class World:
    """A small service: two teams, one account per role, a few patients."""

    teams: dict[str, int] = field(default_factory=dict)
    staff: dict[str, int] = field(default_factory=dict)
    patients: dict[str, int] = field(default_factory=dict)


@dataclass
class LiveApi:
    """The running server: its base URL and helpers that sign in."""

    url: str
    world: World
    settings: Settings
    db_url: str

    def client(self, username: str | None = None) -> httpx.Client:
        """An HTTP client, with a session token of `username` when given."""
        c = httpx.Client(base_url=self.url, timeout=10.0)
        if username:
            c.headers["Authorization"] = f"Bearer {self.mint_token(username)}"
        return c

    def mint_token(self, username: str) -> str:
        """A session token written straight to the database (sign-in itself is tested
        in test_auth; argon2 makes each sign-in cost ~0.3 s by design)."""
        token = secrets.token_urlsafe(32)
        with connect(self.db_url) as conn:
            conn.execute("INSERT INTO api_tokens (token_hash, staff_id, kind, expires_at) "
                         "SELECT %s, id, 'session', now() + interval '1 hour' FROM staff "
                         "WHERE username = %s", (hashlib.sha256(token.encode()).digest(),
                                                 username))
        return token

    def token(self, username: str, password: str = PASSWORD) -> str:
        """Sign in over HTTP and return the bearer token."""
        r = httpx.post(f"{self.url}/auth/token", data={"username": username,
                                                        "password": password}, timeout=10.0)
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])


class ServerThread:
    """uvicorn serving `app` on a socket of its own, in a background thread, configured as
    `telehub api` configures it (api.server.server_config) for `api` settings."""

    def __init__(self, app: Any, api: ApiSettings | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = server_config(app, api or ApiSettings(), log_config=None, access_log=False,
                               lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True, name="uvicorn-test")

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the API server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


def build_world(conn: psycopg.Connection) -> World:
    """Teams north and south; admin, matron, nurse, responder, manager; patients."""
    w = World()
    w.teams["north"] = registry.add_team(conn, "north", "North Locality")
    w.teams["south"] = registry.add_team(conn, "south", "South Locality")
    for username, role, team in [("admin", "admin", None), ("matron", "matron", "north"),
                                 ("nurse", "nurse", "north"), ("south-nurse", "nurse", "south"),
                                 ("responder", "responder", "north"),
                                 ("manager", "manager", "north")]:
        w.staff[username] = registry.add_staff(conn, username=username,
                                               display_name=username.title(), role=role,
                                               team=team)
        conn.execute("UPDATE staff SET password_hash = %s WHERE id = %s",
                     (password_hash(), w.staff[username]))
    patients = [("ann", "9990000026", "Ann", "Able", "north", ["heart-failure"]),
                ("bob", "9990000034", "Bob", "Baker", "north", ["copd"]),
                ("cat", "9990000042", "Cat", "Cole", "south", ["diabetes"])]
    for key, nhs, given, family, team, conds in patients:
        w.patients[key] = registry.add_patient(
            conn, nhs_number=nhs, given_name=given, family_name=family,
            birth_date=date(1940, 1, 2), team=team, conditions=conds,
            address_line=f"{key} street", postcode="LS1 1AA", phone="0113 000 0000",
            named_nurse_id=w.staff["nurse"] if team == "north" else w.staff["south-nurse"])
    conn.commit()
    return w


@pytest.fixture(scope="session")
def api_database(pg_admin_url: str, template_db: str) -> Iterator[str]:
    """One migrated database for this folder's tests, emptied before each test.

    Emptying (TRUNCATE … RESTART IDENTITY) costs tens of milliseconds where creating and
    dropping a database per test costs seconds on a busy disk; tests still start from an
    empty, freshly numbered schema.
    """
    name = "telehub_api_" + "".join(random.choices(string.ascii_lowercase, k=12))
    clone_database(pg_admin_url, name, template_db)
    yield name
    with psycopg.connect(pg_admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


EMPTY_SQL = """
SELECT string_agg(format('%I.%I', schemaname, tablename), ', ')
FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'
"""


@pytest.fixture
def db_url(pg_admin_url: str, api_database: str) -> str:
    """This folder's database, empty: every table truncated, identities restarted."""
    url = make_conninfo(pg_admin_url, dbname=api_database)
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                  "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        row = c.execute(EMPTY_SQL).fetchone()
        assert row is not None and row[0]
        c.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(sql.SQL(row[0])))
        refresh_daily_aggregates(c)   # they keep their materialised days until a refresh
    return url


@pytest.fixture
def api_settings(db_url: str, mqtt_url: str, topic_root: str) -> Settings:
    """Settings for this test's database, the broker and a topic root of its own."""
    # A low sign-in limit keeps the rate-limit test short (each attempt costs an argon2 check).
    return Settings(database_url=db_url, mqtt_url=mqtt_url, topic_root=topic_root,
                    api=ApiSettings(signin_attempts_per_minute=4))


@pytest.fixture
def live_api(api_settings: Settings, db_url: str, conn: psycopg.Connection,
             log_guard: LogGuard) -> Iterator[LiveApi]:
    """The API served over real HTTP on this test's database, with a small world in it."""
    world = build_world(conn)
    log_guard.register("Ann", "Able", "Bob Baker", "Baker", "Cat Cole")
    with ServerThread(create_app(api_settings), api_settings.api) as srv:
        yield LiveApi(f"http://127.0.0.1:{srv.port}", world, api_settings, db_url)


@pytest.fixture
def hub(settings: Settings) -> Iterator[Ingest]:
    """The real ingest pipeline on this test's database, broker and topic root."""
    fast = settings.model_copy(update={"ingest": settings.ingest.model_copy(
        update={"batch_wait_ms": 20})})
    with running_hub(fast) as ingest:
        yield ingest
