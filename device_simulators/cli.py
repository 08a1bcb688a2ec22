"""`telehub simulate`: run a caseload's devices (or the load generator) against the broker."""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from telehub.errors import TelehubError

logger = logging.getLogger(__name__)

DEMO_SPEED = 1440.0                 # a simulated day per real minute
# The demo's compressed stretch: 15 s at 1440×. Short, because the hub's scheduler
# judges missing readings against the real clock: a longer stretch would leave every
# patient's latest reading too far behind it and raise false missing-reading alerts.
DEMO_WINDOW = timedelta(hours=6)
DEMO_BACKFILL = timedelta(days=30) - DEMO_WINDOW - timedelta(hours=1)  # inside the hub's horizon
DEFAULT_WINDOW = timedelta(days=3)  # the compressed stretch when --speed > 1 and no --window
MARKER = "progress.json"            # the demo's memory: scenario anchor and how far it got


def register(app: typer.Typer) -> None:
    """Add `telehub simulate` to the CLI."""

    @app.command()
    def simulate(
        caseload: Annotated[Path | None, typer.Option(
            "--caseload", "--scenario-file", help="Caseload TOML file to simulate.")] = None,
        demo: bool = typer.Option(False, "--demo", help="Simulate the seeded demo caseload "
                                  "(backfills 30 days on the first run)."),
        speed: float | None = typer.Option(None, help="Simulated seconds per real second "
                                           "until caught up with now (1440: a day a minute)."),
        backfill: str = typer.Option("0d", help="History to write first, as fast as the "
                                     "broker accepts it (e.g. 30d)."),
        window: str | None = typer.Option(None, help="Stretch before now run at --speed "
                                          "(default 3d when --speed > 1)."),
        seed: int | None = typer.Option(None, help="Random seed (default: the caseload's)."),
        once: bool = typer.Option(False, help="Stop once caught up with real time."),
        duration: str | None = typer.Option(None, help="Real time to go on after catching up "
                                            "(e.g. 10m); default until Ctrl-C."),
        state_dir: Annotated[Path | None, typer.Option(
            help="Where devices keep unsent readings.")] = None,
        credentials: Annotated[Path | None, typer.Option(
            help="JSON file {device_id: password} for a broker with per-device sign-in.")
        ] = None,
        load: bool = typer.Option(False, "--load", help="Load generator for benchmarks."),
        devices: int = typer.Option(1000, help="--load: how many devices."),
        rate: str | None = typer.Option(None, help="--load: readings per second, e.g. 5000/s."),
        total: int = typer.Option(100_000, help="--load: readings to publish in all."),
    ) -> None:
        """Simulated patients' home devices publishing readings (or a load test)."""
        from telehub.config import get_settings

        settings = get_settings()
        try:
            if load:
                _run_load(settings.require_mqtt().url(with_password=True), settings.topic_root,
                          devices, total, rate)
                return
            _run_caseload(settings, caseload=caseload, demo=demo, speed=speed,
                          backfill=backfill, window=window, seed=seed, once=once,
                          duration=duration, state_dir=state_dir, credentials=credentials)
        except TelehubError as err:
            typer.secho(f"error: {err}", err=True, fg=typer.colors.RED)
            raise typer.Exit(1) from err


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """An event set by Ctrl-C or SIGTERM, so the run can finish cleanly (PUBACKs, marker)."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run_caseload(settings: Any, *, caseload: Path | None, demo: bool, speed: float | None,
                  backfill: str, window: str | None, seed: int | None, once: bool,
                  duration: str | None, state_dir: Path | None,
                  credentials: Path | None) -> None:
    from dataclasses import replace

    from device_simulators.clock import parse_duration, utcnow
    from device_simulators.runner import Simulation, SimulationPlan
    from telehub.domain.roster import load_caseload
    from telehub.errors import ConfigError

    if demo == (caseload is not None):
        raise ConfigError("Give either --caseload FILE or --demo.")
    demo_dir = settings.data_dir / "demo"
    path = demo_dir / "caseload.toml" if demo else caseload
    assert path is not None
    if demo and not path.exists():
        raise ConfigError(f"No demo caseload at {path}: run `telehub seed --demo` first.")
    cases = load_caseload(path)
    if seed is not None:
        cases = replace(cases, seed=seed)
    run_for = 0.0 if once else parse_duration(duration).total_seconds() if duration else None
    state = state_dir or (demo_dir / "simulator" if demo else settings.data_dir / "simulator")
    marker = state / MARKER
    if demo:
        plan = _demo_plan(marker, speed, run_for)
    else:
        pace = speed or 1.0
        stretch = parse_duration(window) if window else (DEFAULT_WINDOW if pace > 1
                                                         else timedelta(0))
        history = parse_duration(backfill)
        # The hub refuses readings older than its store-and-forward horizon.
        oldest = timedelta(days=settings.ingest.horizon_days) - timedelta(hours=1)
        if history + stretch > oldest:
            typer.secho(f"note: history limited to the hub's {settings.ingest.horizon_days}-day "
                        "horizon", err=True)
            history = max(oldest - stretch, timedelta(0))
            stretch = min(stretch, oldest)
        plan = SimulationPlan.ending_now(backfill=history, window=stretch, speed=pace,
                                         run_for=run_for)
    simulation = Simulation(cases, settings.require_mqtt(), topic_root=settings.topic_root,
                            state_path=state / "devices.sqlite", plan=plan,
                            credentials=_credentials(credentials))
    typer.echo(f"Simulating {len(cases.patients)} patients with {len(simulation.devices)} "
               f"devices from {plan.start:%Y-%m-%d %H:%M} UTC "
               f"(fast until {plan.fast_until:%Y-%m-%d %H:%M}, then {plan.speed:g}×).")
    writer = _MarkerWriter(marker, plan.anchor) if demo else None
    with _stop_on_signals() as stop:
        report = simulation.run(stop, progress=_Progress(writer))
    if writer:
        writer.write(report.simulated_until or utcnow())
    typer.echo(f"Recorded {report.recorded} readings and {report.events} telecare events, "
               f"published {report.published}, "
               f"acknowledged {report.acknowledged}; {report.left_on_disk} wait on disk.")


def _demo_plan(marker: Path, speed: float | None, run_for: float | None) -> Any:
    """First demo run: 30 days of history, then 3 compressed days; later runs fill the gap."""
    from device_simulators.clock import utcnow
    from device_simulators.runner import SimulationPlan

    now = utcnow()
    if marker.exists():
        done = json.loads(marker.read_text())
        anchor = datetime.fromisoformat(done["anchor"])
        since = max(datetime.fromisoformat(done["simulated_until"]),
                    now - DEMO_BACKFILL - DEMO_WINDOW)
        return SimulationPlan(start=since, fast_until=now, anchor=anchor,
                              speed=speed or DEMO_SPEED, run_for=run_for)
    return SimulationPlan.ending_now(backfill=DEMO_BACKFILL, window=DEMO_WINDOW,
                                     speed=speed or DEMO_SPEED, run_for=run_for, now=now)


class _MarkerWriter:
    """Remembers how far the demo got, so the next demo neither re-backfills nor leaves a gap."""

    def __init__(self, path: Path, anchor: datetime) -> None:
        self._path = path
        self._anchor = anchor
        self._last = 0.0

    def write(self, simulated_until: datetime, *, every: float = 0.0) -> None:
        import time

        if time.monotonic() - self._last < every:
            return
        self._last = time.monotonic()
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"anchor": self._anchor.isoformat(),
                                   "simulated_until": simulated_until.isoformat()}))
        tmp.replace(self._path)


class _Progress:
    """Logs the simulated date while history is written, and keeps the demo marker current."""

    def __init__(self, writer: _MarkerWriter | None) -> None:
        self._writer = writer
        self._last_day = ""

    def __call__(self, report: Any, clock: Any) -> None:
        until = report.simulated_until
        if until is None:
            return
        day = f"{until:%Y-%m-%d}"
        if day != self._last_day:
            self._last_day = day
            logger.info("simulated %s: %d readings recorded, %d acknowledged", day,
                        report.recorded, report.acknowledged)
        if self._writer:
            self._writer.write(until, every=10.0)


def _credentials(path: Path | None) -> dict[str, str]:
    from telehub.errors import ConfigError

    if path is None:
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ConfigError(f"Cannot read device credentials from {path}: {err}") from err
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ConfigError(f"{path} must be a JSON object of device_id: password.")
    return data


def _run_load(mqtt_url: str, topic_root: str, devices: int, total: int, rate: str | None) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from device_simulators.load import parse_rate, run_load

    per_second = parse_rate(rate) if rate else None
    columns = ("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with _stop_on_signals() as stop, Progress(*columns) as bar:
        task = bar.add_task("acknowledged", total=total)
        result = run_load(mqtt_url, devices=devices, readings=total, rate=per_second,
                          topic_root=topic_root, stop=stop,
                          progress=lambda published, acked: bar.update(task, completed=acked))
    typer.echo(json.dumps(result.as_dict(), indent=2))
