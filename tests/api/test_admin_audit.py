"""Every administrative action writes an audit row: who (the staff member, or the OS user at
the command line), what, to which target, when on the service clock, and never a secret."""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from typer.testing import CliRunner

from telehub.cli import app as telehub_app
from telehub.config import get_settings
from telehub.domain import clock
from tests.api.conftest import LiveApi

# The service clock two days behind the machine's: a row stamped by the database's own
# clock would be two days out, so matching it proves the service clock stamped the row.
SKEW = timedelta(days=2)


@pytest.fixture
def service_clock() -> Iterator[clock.FixedClock]:
    """The whole process (API server thread included) on a clock two days behind."""
    with clock.use_clock(clock.FixedClock(datetime.now(UTC) - SKEW)) as fixed:
        assert isinstance(fixed, clock.FixedClock)
        yield fixed


@pytest.fixture
def cli(live_api: LiveApi, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """The `telehub` command on this test's database, with its admin and users commands."""
    from api.cli import register as register_users
    from telehub.cli.admin import register as register_admin

    monkeypatch.setenv("TELEHUB_DATABASE_URL", live_api.db_url)
    get_settings.cache_clear()
    register_admin(telehub_app)
    register_users(telehub_app)
    yield CliRunner()
    get_settings.cache_clear()


def _rows(conn: psycopg.Connection, *actions: str) -> list[dict[str, object]]:
    return [dict(r) for r in conn.execute(
        "SELECT at, staff_id, actor, action, resource, patient_id, detail FROM audit_log "
        "WHERE action = ANY(%s) ORDER BY id", (list(actions),)).fetchall()]


def test_registering_a_device_and_issuing_its_credentials_are_audited(
        live_api: LiveApi, conn: psycopg.Connection, service_clock: clock.FixedClock) -> None:
    bob = live_api.world.patients["bob"]
    with live_api.client("admin") as c:
        assert c.post("/devices", json={"device_id": "ox-9", "kind": "oximeter"}
                      ).status_code == 201
        assert c.post("/devices", json={"device_id": "sc-9", "kind": "scale",
                                        "patient_id": bob}).status_code == 201
        password = c.post("/devices/ox-9/credentials").json()["password"]
        again = c.post("/devices/ox-9/credentials").json()["password"]
    rows = _rows(conn, "register", "issue-credentials")
    admin = live_api.world.staff["admin"]
    assert [(r["action"], r["resource"], r["patient_id"], r["detail"]) for r in rows] == [
        ("register", "device", None, {"target": "ox-9", "kind": "oximeter"}),
        ("register", "device", bob, {"target": "sc-9", "kind": "scale"}),
        ("issue-credentials", "device", None, {"target": "ox-9", "replaced": False}),
        ("issue-credentials", "device", None, {"target": "ox-9", "replaced": True})]
    assert all((r["staff_id"], r["actor"]) == (admin, "admin") for r in rows)
    assert all(r["at"] == service_clock.now() for r in rows)
    everything = json.dumps(_rows(conn, "register", "issue-credentials", "assign-device"),
                            default=str)
    assert password not in everything and again not in everything


def test_account_commands_are_audited_without_their_secrets(
        live_api: LiveApi, conn: psycopg.Connection, cli: CliRunner,
        service_clock: clock.FixedClock) -> None:
    first, second = "first-password-1", "second-password-2"
    for args, stdin in [(["users", "add", "--username", "Nina", "--role", "nurse",
                          "--team", "north"], f"{first}\n"),
                        (["users", "passwd", "--username", "nina"], f"{second}\n"),
                        (["users", "token", "--username", "nina", "--name", "gp-system",
                          "--days", "30"], None),
                        (["users", "disable", "--username", "nina"], None)]:
        done = cli.invoke(telehub_app, args, input=stdin)
        assert done.exit_code == 0, done.output
        if args[1] == "token":
            token = done.output.strip()
    nina = conn.execute("SELECT id FROM staff WHERE username = 'nina'").fetchone()["id"]
    rows = _rows(conn, "create", "change-password", "issue-token", "disable")
    expires = (service_clock.now() + timedelta(days=30)).isoformat()
    assert [(r["action"], r["resource"], r["detail"]) for r in rows] == [
        ("create", "staff", {"target": "nina", "staff_id": nina, "role": "nurse",
                             "team": "north"}),
        ("change-password", "staff", {"target": "nina", "staff_id": nina,
                                      "sessions_revoked": 0}),
        ("issue-token", "api-token", {"target": "nina", "staff_id": nina, "name": "gp-system",
                                      "expires_at": expires}),
        ("disable", "staff", {"target": "nina", "staff_id": nina, "tokens_revoked": 1})]
    assert all((r["staff_id"], r["actor"]) == (None, f"os:{getpass.getuser()}") for r in rows)
    assert all(r["at"] == service_clock.now() for r in rows)
    written = json.dumps(rows, default=str)
    for secret in (first, second, token):
        assert secret not in written


def test_registration_commands_are_audited(live_api: LiveApi, conn: psycopg.Connection,
                                           cli: CliRunner,
                                           service_clock: clock.FixedClock) -> None:
    for args in (["teams", "add", "--name", "East Locality", "--code", "east"],
                 ["patients", "add", "--nhs-number", "9434765919", "--name", "Ida Irwin",
                  "--birth-date", "1941-03-04", "--team", "east"],
                 ["devices", "add", "--device-id", "gl-9", "--kind", "glucometer",
                  "--patient", "9434765919"]):
        done = cli.invoke(telehub_app, args)
        assert done.exit_code == 0, done.output
    ida = conn.execute("SELECT id, display_id FROM patients WHERE nhs_number = '9434765919'"
                       ).fetchone()
    east = conn.execute("SELECT id FROM teams WHERE code = 'east'").fetchone()["id"]
    rows = _rows(conn, "create", "register")
    assert [(r["action"], r["resource"], r["patient_id"], r["detail"]) for r in rows] == [
        ("create", "team", None, {"target": "east", "team_id": east}),
        ("create", "patient", ida["id"], {"target": ida["display_id"], "team": "east"}),
        ("register", "device", ida["id"], {"target": "gl-9", "kind": "glucometer"})]
    assert all((r["staff_id"], r["actor"]) == (None, f"os:{getpass.getuser()}") for r in rows)
    assert all(r["at"] == service_clock.now() for r in rows)
