"""`telehub demo`: the whole service on one machine, started in order and stopped in reverse.

Embedded PostgreSQL and broker unless TELEHUB_DATABASE_URL / TELEHUB_MQTT_URL name
real ones; then migrate, seed, and run hub, API, dashboard and simulators as child
processes of this one, so Ctrl-C stops everything.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from importlib.metadata import entry_points
from urllib.parse import urlsplit

from rich.console import Console
from rich.table import Table

from telehub.config import Settings
from telehub.db.migrate import migrate
from telehub.db.pool import connect
from telehub.demo.embedded import embedded_broker, embedded_postgres, stop_process, wait_for_port

console = Console()


def _available_commands() -> set[str]:
    """Names of the `telehub` commands this installation really has."""
    names = set()
    for entry in entry_points(group="telehub.commands"):
        with contextlib.suppress(ImportError, ValueError):
            if importlib.util.find_spec(entry.module) is not None:
                names.add(entry.name)
    return names


@contextlib.contextmanager
def _database(settings: Settings, fresh: bool) -> Iterator[str]:
    if settings.database_url:
        console.print("[green]✓[/] PostgreSQL: using TELEHUB_DATABASE_URL")
        yield settings.database_url
        return
    pg_dir = settings.data_dir / "demo"
    if fresh and (pg_dir / "postgres").exists():
        shutil.rmtree(pg_dir / "postgres")
    with console.status("Starting embedded PostgreSQL…"):
        cm = embedded_postgres(pg_dir)
        url = cm.__enter__()
    console.print(f"[green]✓[/] PostgreSQL (embedded): data in {pg_dir / 'postgres'}")
    try:
        yield url
    finally:
        cm.__exit__(None, None, None)


@contextlib.contextmanager
def _broker(settings: Settings) -> Iterator[str]:
    if settings.mqtt_url:
        console.print("[green]✓[/] MQTT broker: using TELEHUB_MQTT_URL")
        yield settings.mqtt_url
        return
    with console.status("Starting embedded MQTT broker…"), contextlib.ExitStack() as stack:
        info = stack.enter_context(embedded_broker(settings.data_dir / "demo"))
        note = "" if info.no_loss else (" (amqtt: no persistent-session redelivery; "
                                        "install mosquitto for the no-loss guarantee)")
        console.print(f"[green]✓[/] MQTT broker ({info.kind}): {info.url}{note}")
        stack_out = stack.pop_all()
    try:
        yield info.url
    finally:
        stack_out.close()


class Children:
    """Child processes of the demo, stopped in reverse order of starting."""

    def __init__(self, env: dict[str, str]) -> None:
        self._env = env
        self._procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        """Start `telehub <args>` as a child process."""
        proc = subprocess.Popen([sys.executable, "-m", "telehub", *args], env=self._env,
                                stdin=subprocess.DEVNULL)
        self._procs.append((name, proc))
        return proc

    def run(self, *args: str) -> None:
        """Run `telehub <args>` to completion, raising if it fails."""
        subprocess.run([sys.executable, "-m", "telehub", *args], env=self._env, check=True,
                       stdin=subprocess.DEVNULL)

    def failed(self) -> str | None:
        """The name of a child that has exited, if any."""
        return next((name for name, p in self._procs if p.poll() is not None), None)

    def stop_all(self) -> None:
        """Stop every child, last started first."""
        for _name, proc in reversed(self._procs):
            stop_process(proc)
        self._procs.clear()


def run(settings: Settings, *, fresh: bool = False) -> None:
    """Start everything, print where it is, and wait for Ctrl-C."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with _database(settings, fresh) as db_url, _broker(settings) as mqtt_url:
        with console.status("Migrating the database…"), connect(db_url) as conn:
            done = migrate(conn)
        console.print(f"[green]✓[/] Database migrated ({len(done)} new migrations)")
        env = {**os.environ, "TELEHUB_DATABASE_URL": db_url, "TELEHUB_MQTT_URL": mqtt_url}
        children = Children(env)
        commands = _available_commands()
        try:
            _start_services(settings, children, commands)
            console.print(f"\n[bold]Telehub is running.[/]\n  database: {db_url}\n"
                          f"  broker:   {mqtt_url}\nPress Ctrl-C to stop.")
            while not stop.wait(1.0):
                name = children.failed()
                if name:
                    console.print(f"[red]✗ {name} stopped unexpectedly; shutting down.[/]")
                    break
        except KeyboardInterrupt:
            pass
        finally:
            with console.status("Stopping…"):
                children.stop_all()
    console.print("[green]✓[/] Stopped cleanly.")


def _start_services(settings: Settings, children: Children, commands: set[str]) -> None:
    """Seed, then start hub, API, dashboard and simulators: those this installation has."""
    if "seed" in commands:
        with console.status("Seeding the demo trust…"):
            children.run("seed", "--demo")
        console.print("[green]✓[/] Demo trust seeded")
    if "alerts" in commands:
        with console.status("Writing the demo team's months of handled alerts…"):
            children.run("alerts", "demo-staff", "--history")
        console.print("[green]✓[/] Demo history written")
    api = urlsplit(settings.api_url)
    ready: dict[str, tuple[str, int] | None] = {
        "hub": None,
        "api": (api.hostname or "127.0.0.1", api.port or 80),
        "dashboard": settings.dashboard_address,
        "simulate": None,
        "alerts": None,
    }
    # The simulated team acts on what the hub raises once a minute (alerts.demo_staff).
    for name, args in (("hub", ("hub",)), ("api", ("api",)), ("dashboard", ("dashboard",)),
                       ("simulate", ("simulate", "--demo")),
                       ("alerts", ("alerts", "demo-staff", "--every", "60"))):
        if name not in commands:
            continue
        children.start(name, *args)
        address = ready[name]
        if address is not None:
            with console.status(f"Waiting for {name} on port {address[1]}…"):
                wait_for_port(*address, timeout=90.0)
        console.print(f"[green]✓[/] {name} started")
    _print_where(settings, commands)


def _print_where(settings: Settings, commands: set[str]) -> None:
    """The dashboard and API addresses and the demo sign-ins, when those parts run."""
    if "dashboard" in commands:
        console.print(f"\n  Dashboard: {settings.dashboard_url}")
    if "api" in commands:
        console.print(f"  API docs:  {settings.api_url.rstrip('/')}/docs")
    signins = settings.data_dir / "demo" / "signins.json"
    if not signins.exists():
        return
    table = Table(title="Demo sign-ins (synthetic data only)")
    for column in ("username", "password", "role", "team"):
        table.add_column(column)
    for user in json.loads(signins.read_text()):
        table.add_row(*(str(user.get(c, "")) for c in ("username", "password", "role", "team")))
    console.print(table)
