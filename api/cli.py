"""`telehub api` (serve the HTTP API) and `telehub users …` (staff accounts and API tokens)."""

from __future__ import annotations

import hashlib
import secrets
import sys
from datetime import timedelta
from typing import Any

import typer

from telehub.care import registration as registry
from telehub.care.audit import record_audit
from telehub.cli import operator
from telehub.cli import run_in_transaction as in_tx
from telehub.config import get_settings
from telehub.domain import clock
from telehub.errors import TelehubError, ValidationError
from telehub.passwords import hash_password

users = typer.Typer(help="Staff accounts and integration tokens.", no_args_is_help=True)

MIN_PASSWORD = 10


def _read_password(confirm: bool = True) -> str:
    """A new password from a prompt, or the first line of stdin when it is not a terminal."""
    if sys.stdin.isatty():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=confirm)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < MIN_PASSWORD:
        typer.secho(f"error: a password needs at least {MIN_PASSWORD} characters", err=True,
                    fg=typer.colors.RED)
        raise typer.Exit(1)
    return password


def _audit(conn: Any, action: str, resource: str, username: str,
           detail: dict[str, Any]) -> None:
    """An audit row for an account change made here: never the password or token itself."""
    record_audit(conn, actor=operator(), action=action, resource=resource,
                 detail={"target": username.strip().lower(), **detail})


def _staff_id(conn: Any, username: str) -> int:
    row = conn.execute("SELECT id FROM staff WHERE username = %s",
                       (username.strip().lower(),)).fetchone()
    if row is None:
        raise ValidationError("unknown-user", f"No user '{username}'.")
    return int(row["id"])


@users.command("add")
def users_add(username: str = typer.Option(..., help="Lower-case sign-in name."),
              role: str = typer.Option(..., help="admin, matron, nurse, responder or manager"),
              team: str = typer.Option(None, help="Team code or name (nurses and matrons)."),
              name: str = typer.Option(None, help="Display name (default: the username).")
              ) -> None:
    """Add a member of staff; the password comes from a prompt or stdin."""
    password = _read_password()

    def add(conn: Any) -> int:
        sid = registry.add_staff(conn, username=username, display_name=name or username,
                                 role=role, team=team, password=password)
        _audit(conn, "create", "staff", username, {"staff_id": sid, "role": role,
                                                    "team": team})
        return sid

    sid = in_tx(add)
    typer.echo(f"user {username.strip().lower()} added (id {sid}, {role})")


@users.command("passwd")
def users_passwd(username: str = typer.Option(...)) -> None:
    """Set a new password (from a prompt or stdin) and sign the user out everywhere."""
    password = _read_password()

    def change(conn: Any) -> None:
        sid = _staff_id(conn, username)
        conn.execute("UPDATE staff SET password_hash = %s WHERE id = %s",
                     (hash_password(password), sid))
        revoked = conn.execute("UPDATE api_tokens SET revoked_at = now() WHERE staff_id = %s "
                               "AND kind = 'session' AND revoked_at IS NULL", (sid,)).rowcount
        _audit(conn, "change-password", "staff", username,
               {"staff_id": sid, "sessions_revoked": revoked})

    in_tx(change)
    typer.echo(f"password of {username} changed; their sessions are signed out")


@users.command("disable")
def users_disable(username: str = typer.Option(...)) -> None:
    """Disable an account and revoke all its tokens (history is kept)."""

    def disable(conn: Any) -> None:
        sid = _staff_id(conn, username)
        conn.execute("UPDATE staff SET active = false, disabled_at = now() WHERE id = %s", (sid,))
        revoked = conn.execute("UPDATE api_tokens SET revoked_at = now() WHERE staff_id = %s "
                               "AND revoked_at IS NULL", (sid,)).rowcount
        _audit(conn, "disable", "staff", username, {"staff_id": sid, "tokens_revoked": revoked})

    in_tx(disable)
    typer.echo(f"user {username} disabled")


@users.command("list")
def users_list() -> None:
    """List staff accounts."""
    rows = in_tx(lambda c: c.execute(
         "SELECT s.username, s.role::text AS role, t.code AS team, s.active FROM staff s "
         "LEFT JOIN teams t ON t.id = s.team_id ORDER BY s.username").fetchall())
    for r in rows:
        typer.echo(f"{r['username']:<24} {r['role']:<10} {r['team'] or '-':<16} "
                   f"{'active' if r['active'] else 'disabled'}")


@users.command("token")
def users_token(username: str = typer.Option(..., help="The account the integration acts as."),
                name: str = typer.Option(..., help="What the token is for."),
                days: int = typer.Option(365, min=1, max=3650)) -> None:
    """Issue a long-lived bearer token for an integration (printed once, stored hashed)."""
    token = secrets.token_urlsafe(32)
    expires = clock.now() + timedelta(days=days)

    def issue(conn: Any) -> None:
        sid = _staff_id(conn, username)
        conn.execute("INSERT INTO api_tokens (token_hash, staff_id, kind, name, expires_at) "
                     "VALUES (%s, %s, 'integration', %s, %s)",
                     (hashlib.sha256(token.encode()).digest(), sid, name, expires))
        _audit(conn, "issue-token", "api-token", username,
               {"staff_id": sid, "name": name, "expires_at": expires.isoformat()})

    in_tx(issue)
    typer.echo(token)


def api_command(host: str = typer.Option(None, help="Default: settings api.host"),
                port: int = typer.Option(None, help="Default: settings api.port")) -> None:
    """Serve the HTTP API with uvicorn."""
    from api.server import serve

    try:
        serve(get_settings(), host=host, port=port)
    except TelehubError as err:
        typer.secho(f"error: {err}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from err


def register(app: typer.Typer) -> None:
    """Add `telehub api` and `telehub users …`."""
    app.command("api")(api_command)
    app.add_typer(users, name="users")
