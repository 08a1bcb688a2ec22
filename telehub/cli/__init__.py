"""The `telehub` command: parses arguments, loads settings and calls a composition root.

Commands of the packages built on the core (hub, api, dashboard, simulate, …)
arrive through the `telehub.commands` entry-point group, so this module never
imports them (DESIGN.md section 2).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from importlib.metadata import entry_points
from typing import Any, TypeVar

import typer

from telehub.config import get_settings
from telehub.errors import TelehubError
from telehub.logs import configure_logging

logger = logging.getLogger(__name__)
T = TypeVar("T")

app = typer.Typer(help="Telehub: home telehealth monitoring hub for community nursing teams.",
                  no_args_is_help=True, pretty_exceptions_enable=False)


@app.callback()
def _root(log_level: str = typer.Option("INFO", envvar="TELEHUB_LOG_LEVEL",
                                        help="DEBUG, INFO, WARNING or ERROR.")) -> None:
    configure_logging(log_level)
    _install_clock()


def _install_clock() -> None:
    """Run this process on the service clock its settings give (TELEHUB_CLOCK_OFFSET_S)."""
    from pydantic import ValidationError as SettingsError

    from telehub.domain import clock

    try:
        offset = get_settings().clock_offset_s
    except SettingsError:
        return           # the command itself reports the bad setting
    if offset:
        clock.set_clock(clock.OffsetClock(timedelta(seconds=offset)))
        logger.warning("service clock %+.0f s from the machine's (TELEHUB_CLOCK_OFFSET_S)", offset)


def run_in_transaction(action: Callable[[Any], T]) -> T:
    """Run `action(conn)` in one transaction on the configured database; a domain error
    exits 1 with a clear message (commands of every package use this)."""
    from telehub.db.pool import connect

    try:
        with connect(get_settings().require_database_url()) as conn:
            return action(conn)
    except TelehubError as err:
        typer.secho(f"error: {err}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from err


def operator() -> str:
    """Who runs this command, as the audit log names them: the OS user ("os:alice")."""
    import getpass
    import os

    try:
        return f"os:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name in the environment or the user database
        return f"os:uid-{os.getuid()}"


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print a clear error to stderr and return the Exit to raise."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


@app.command()
def migrate() -> None:
    """Apply the numbered database migrations (safe to run again)."""
    from telehub.db.migrate import migrate as run_migrations
    from telehub.db.pool import connect

    try:
        url = get_settings().require_database_url()
    except TelehubError as err:
        raise fail(str(err)) from err
    with connect(url) as conn:
        done = run_migrations(conn)
    typer.echo("\n".join(done) if done else "database is up to date")


@app.command()
def demo(fresh: bool = typer.Option(False, help="Start from an empty demo database.")) -> None:
    """Run the whole service on embedded defaults and print where everything is."""
    from telehub.demo.runner import run

    run(get_settings(), fresh=fresh)


def _load_plugins() -> None:
    for entry in entry_points(group="telehub.commands"):
        try:
            register = entry.load()
        except ImportError as err:  # a package's optional dependency is missing
            logger.debug("commands from %s are unavailable: %s", entry.value, err)
            continue
        register(app)


def register_commands() -> typer.Typer:
    """The CLI with every command: the core's and those of the packages built on it. Each
    command imports what it runs only when it runs, so `telehub hub` loads no API, dashboard
    or benchmark libraries (tests/unit/test_hub_imports.py)."""
    from telehub.cli import admin as admin_cli
    from telehub.cli import backup as backup_cli

    admin_cli.register(app)
    backup_cli.register(app)
    _load_plugins()
    return app


def main() -> None:
    """Console-script entry point."""
    register_commands()
    from pydantic import ValidationError as SettingsError

    try:
        app()
    except TelehubError as err:
        typer.secho(f"error: {err}", err=True, fg=typer.colors.RED)
        raise SystemExit(1) from err
    except SettingsError as err:
        if err.title != "Settings":
            raise
        for problem in err.errors():
            typer.secho(f"error: {setting_name(problem['loc'])}: {problem['msg']}", err=True,
                        fg=typer.colors.RED)
        raise SystemExit(1) from err


def setting_name(loc: tuple[int | str, ...]) -> str:
    """The environment variable of a setting's location: ('retention', 'readings_days') is
    TELEHUB_RETENTION__READINGS_DAYS."""
    return "TELEHUB_" + "__".join(str(part).upper() for part in loc)
