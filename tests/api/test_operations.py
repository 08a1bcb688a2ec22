"""Health, readiness (503 when the database is gone), metrics, request limits, CORS, the CLI."""

from __future__ import annotations

import random
import string
import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from psycopg import sql
from typer.testing import CliRunner

from api.main import create_app
from telehub.cli import app as telehub_app
from telehub.config import ApiSettings, Settings, get_settings
from tests.api.conftest import PASSWORD, LiveApi, ServerThread, build_world
from tests.databases import clone_database
from tests.log_guard import LogGuard


def test_health_and_readiness(live_api: LiveApi) -> None:
    with live_api.client() as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        ready = c.get("/readyz")
    assert ready.status_code == 200 and ready.json()["database"] is True


def _letters_only_name() -> str:
    """A database name without digit runs: the pool logs the name when it cannot connect,
    and the suite's log guard would take ten random digits for an NHS number."""
    return "telehub_api_" + "".join(random.choices(string.ascii_lowercase, k=12))


@pytest.fixture
def doomed_db(pg_admin_url: str, template_db: str) -> Iterator[str]:
    """A migrated database of this test's own, which the test may drop."""
    name = _letters_only_name()
    clone_database(pg_admin_url, name, template_db)
    yield name
    with psycopg.connect(pg_admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


def test_503_with_a_reason_when_the_database_goes_away(
        doomed_db: str, pg_admin_url: str, mqtt_url: str) -> None:
    url = psycopg.conninfo.make_conninfo(pg_admin_url, dbname=doomed_db)
    with psycopg.connect(url) as conn:
        build_world(conn)  # type: ignore[arg-type]
    with ServerThread(create_app(Settings(database_url=url, mqtt_url=mqtt_url))) as srv:
        base = f"http://127.0.0.1:{srv.port}"
        token = httpx.post(f"{base}/auth/token", data={"username": "nurse",
                                                       "password": PASSWORD}).json()
        auth = {"Authorization": f"Bearer {token['access_token']}"}
        assert httpx.get(f"{base}/readyz").status_code == 200
        with psycopg.connect(pg_admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(
                sql.Identifier(doomed_db)))
        data = httpx.get(f"{base}/caseload", headers=auth, timeout=15)
        ready = httpx.get(f"{base}/readyz", timeout=15)
        alive = httpx.get(f"{base}/healthz")
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable" and ready.json()["reason"]
    assert data.status_code == 503, data.text
    assert data.json()["code"] == "database-unavailable"
    assert data.headers["content-type"] == "application/problem+json"
    assert alive.status_code == 200


def test_metrics_count_requests_by_route_template(live_api: LiveApi) -> None:
    ann = live_api.world.patients["ann"]
    with live_api.client("nurse") as c:
        c.get(f"/patients/{ann}")
        c.get("/patients/999999")
        text = c.get("/metrics").text
    assert 'route="/patients/{patient_id}",status="200"' in text
    assert 'route="/patients/{patient_id}",status="404"' in text
    assert "telehub_api_request_seconds_bucket" in text
    assert f"/patients/{ann}\"" not in text


def test_oversized_requests_are_413(db_url: str, mqtt_url: str, conn: psycopg.Connection
                                    ) -> None:
    build_world(conn)
    settings = Settings(database_url=db_url, mqtt_url=mqtt_url,
                        api=ApiSettings(max_request_bytes=1000))
    with ServerThread(create_app(settings)) as srv:
        r = httpx.post(f"http://127.0.0.1:{srv.port}/patients",
                       json={"given_name": "x" * 5000})
        chunked = httpx.post(f"http://127.0.0.1:{srv.port}/patients",
                             content=iter([b"{" + b" " * 800, b" " * 800 + b"}"]),
                             headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == "too-large"
    assert chunked.status_code == 413


def test_cors_is_closed_by_default(live_api: LiveApi) -> None:
    with live_api.client() as c:
        r = c.options("/me", headers={"Origin": "https://evil.example",
                                      "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in r.headers


def test_users_cli_adds_changes_and_disables_accounts(live_api: LiveApi,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from api.cli import register

    monkeypatch.setenv("TELEHUB_DATABASE_URL", live_api.db_url)
    get_settings.cache_clear()
    register(telehub_app)
    runner = CliRunner()
    added = runner.invoke(telehub_app, ["users", "add", "--username", "Nina", "--role", "nurse",
                                        "--team", "north", "--name", "Nina N"],
                          input="first-password-1\n")
    assert added.exit_code == 0, added.output
    live_api.token("nina", "first-password-1")
    short = runner.invoke(telehub_app, ["users", "passwd", "--username", "nina"], input="short\n")
    assert short.exit_code == 1
    changed = runner.invoke(telehub_app, ["users", "passwd", "--username", "nina"],
                            input="second-password-2\n")
    assert changed.exit_code == 0, changed.output
    live_api.token("nina", "second-password-2")
    no_team = runner.invoke(telehub_app, ["users", "add", "--username", "x1", "--role", "nurse"],
                            input="a-long-password\n")
    assert no_team.exit_code == 1 and "team" in no_team.output
    token = runner.invoke(telehub_app, ["users", "token", "--username", "nina",
                                        "--name", "gp-system"]).output.strip()
    assert httpx.get(f"{live_api.url}/me", headers={"Authorization": f"Bearer {token}"}
                     ).json()["username"] == "nina"
    disabled = runner.invoke(telehub_app, ["users", "disable", "--username", "nina"])
    assert disabled.exit_code == 0
    assert httpx.get(f"{live_api.url}/me", headers={"Authorization": f"Bearer {token}"}
                     ).status_code == 401
    get_settings.cache_clear()


def test_values_postgresql_cannot_hold_are_422_not_500(live_api: LiveApi) -> None:
    with live_api.client("admin") as c:
        huge = c.get("/patients", params={"team_id": 2**70})
        nul = c.get("/patients", params={"q": "a\x00b"})
        body = c.post("/devices", json={"device_id": "ab", "kind": "scale", "serial": "\x00"})
    for r in (huge, nul, body):
        assert r.status_code == 422 and r.json()["code"] == "invalid-value"


def test_ready_once_the_database_comes_up(pg_admin_url: str, template_db: str,
                                          mqtt_url: str) -> None:
    name = _letters_only_name()
    late_url = psycopg.conninfo.make_conninfo(pg_admin_url, dbname=name)
    settings = Settings(database_url=late_url, mqtt_url=mqtt_url)
    try:
        with ServerThread(create_app(settings)) as srv:
            base = f"http://127.0.0.1:{srv.port}"
            down = httpx.get(f"{base}/readyz", timeout=15)
            assert down.status_code == 503 and down.json()["database"] is False
            clone_database(pg_admin_url, name, template_db)
            deadline = time.monotonic() + 30
            while (status := httpx.get(f"{base}/readyz", timeout=15).status_code) != 200:
                assert time.monotonic() < deadline, "the API never became ready"
                time.sleep(0.2)
            assert status == 200
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def test_unexpected_errors_are_500_problems_logged_without_their_message(
        api_settings: Settings, db_url: str, log_guard: LogGuard) -> None:
    app = create_app(api_settings)
    message = "Key (nhs_number)=(9434765919) already exists."

    def boom() -> None:
        raise RuntimeError(message)  # as a database error quotes the value it refused

    app.add_api_route("/boom", boom)
    with ServerThread(app) as srv:
        r = httpx.get(f"http://127.0.0.1:{srv.port}/boom")
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "internal-error"
    assert "9434765919" not in r.text
    logged = "\n".join(line for line in log_guard.lines if "api.middleware" in line)
    assert "unhandled RuntimeError in GET /boom" in logged
    assert "9434765919" not in logged


def test_api_enums_match_the_database_enums(conn: psycopg.Connection) -> None:
    """A migration that adds an enum value must add it to the API's models too (else 500s)."""
    from telehub.domain import codes
    from telehub.domain.units import Metric

    pairs = {"staff_role": codes.Role, "severity": codes.Severity,
             "alert_status": codes.AlertStatus, "alert_outcome": codes.Outcome,
             "patient_status": codes.PatientStatus, "device_kind": codes.DeviceKind,
             "metric": Metric}
    for db_type, enum in pairs.items():
        row = conn.execute(sql.SQL("SELECT enum_range(NULL::{})::text[] AS v").format(
            sql.Identifier(db_type))).fetchone()
        assert set(row["v"]) == {e.value for e in enum}, db_type
