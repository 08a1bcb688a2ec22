"""Telehub processes under benchmark (hub, API, dashboard) and their resident memory."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psutil
import psycopg

from bench.load import LoopClient
from telehub.config import MqttEndpoint
from telehub.demo.embedded import start_mosquitto, stop_process
from telehub.mqtt import topics


def telehub_command(*args: str) -> list[str]:
    """The command line that runs `telehub <args>` with this interpreter."""
    return [sys.executable, "-m", "telehub", *args]


def command_available(name: str) -> str | None:
    """None when `telehub <name>` exists here, else why not (its packages may be missing)."""
    done = subprocess.run(telehub_command(name, "--help"), capture_output=True, text=True,
                          timeout=60, check=False)
    if done.returncode == 0:
        return None
    text = done.stderr or done.stdout
    if "No such command" in text:
        return f"`telehub {name}` is not installed here"
    lines = [line.strip(" │╭╮╰╯─") for line in text.splitlines()]
    lines = [line for line in lines if line]
    return f"`telehub {name}` is not available: {lines[-1] if lines else done.returncode}"


@dataclass
class Service:
    """A started Telehub process and where its output goes."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        """Whether it is still running."""
        return self.proc.poll() is None

    def tail(self, lines: int = 15) -> str:
        """The end of its log (for a report when it died)."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def start_service(name: str, args: list[str], env: dict[str, str], log_dir: Path,
                  cwd: str | None = None) -> Service:
    """Start `telehub <args>` with TELEHUB_* settings in `env`, output to a log file; `cwd`
    a Telehub source tree to run instead of this one (`python -m` imports from it first)."""
    log = log_dir / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(telehub_command(*args), env={**os.environ, **env},
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                cwd=cwd)
    return Service(name, proc, log)


def stop_services(services: list[Service]) -> None:
    """Stop services in reverse start order (SIGTERM, then SIGKILL after 15 s)."""
    for service in reversed(services):
        stop_process(service.proc, timeout=15)


@contextlib.contextmanager
def own_broker(saves: str = "off") -> Iterator[MqttEndpoint]:
    """A mosquitto of the benchmark's own with raised queue limits (no QoS 1 drops); its
    state kept in memory only (`saves` "off"), saved on a 30 s timer ("30s"), or saved
    after every N changes ("N", as the shipped broker does)."""
    with tempfile.TemporaryDirectory(prefix="telehub-bench-mqtt-") as tmp:
        proc, port = start_mosquitto(Path(tmp), persistence=saves != "off",
                                     autosave_changes=parse_saves(saves))
        try:
            yield MqttEndpoint(host="127.0.0.1", port=port)
        finally:
            stop_process(proc)


def parse_saves(saves: str) -> int | None:
    """How often a benchmark broker saves: "off" or "30s" → None (no change count), "N" → N."""
    if saves in ("off", "30s"):
        return None
    if not saves.isascii() or not saves.isdigit() or int(saves) < 1:
        raise ValueError(f"broker saves are off, 30s or a number of changes, not {saves!r}")
    return int(saves)


class HubWatcher(LoopClient):
    """Watches the hub workers' retained status topics to see which are online."""

    def __init__(self, endpoint: MqttEndpoint, prefix: str) -> None:
        super().__init__(endpoint, "watch", subscription=f"{prefix}/hub/+/status")
        self._online: set[str] = set()
        self._lock = threading.Lock()
        self.client.on_message = self._on_message

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            if msg.payload.startswith(b"online"):
                self._online.add(msg.topic)
            else:
                self._online.discard(msg.topic)

    def wait_online(self, client_ids: list[str], prefix: str, services: list[Service],
                    timeout: float = 60.0) -> None:
        """Block until every worker says it is online; raise if one dies or time runs out."""
        wanted = {topics.hub_status_topic(c, prefix) for c in client_ids}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if wanted <= self._online:
                    return
            for service in services:
                if not service.alive():
                    raise RuntimeError(f"{service.name} exited during start-up:\n"
                                       f"{service.tail()}")
            time.sleep(0.05)
        raise TimeoutError(f"hub workers not online after {timeout:.0f} s")


def rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its children."""
    return int(_tree_total(pid, lambda p: p.memory_info().rss))


def local_postgres_pid(database_url: str) -> int | None:
    """The pid of the PostgreSQL server behind `database_url` when it runs on this machine
    (the parent of this connection's backend), else None: its CPU can then be counted."""
    try:
        with psycopg.connect(database_url) as conn:
            # Read while the connection is open: its backend exits when it closes.
            row = conn.execute("SELECT pg_backend_pid()").fetchone()
            server = psutil.Process(int(row[0])).parent() if row else None
    except (psycopg.Error, psutil.Error):
        return None
    if server is None or not server.name().startswith("postgres"):
        return None
    return int(server.pid)


def backend_cpu_seconds(backend_pid: int) -> float:
    """CPU time of a PostgreSQL backend of a server on this machine so far; 0 when that pid
    is not a local PostgreSQL process (a remote server)."""
    try:
        proc = psutil.Process(backend_pid)
        if not proc.name().startswith("postgres"):
            return 0.0
        return float(sum(proc.cpu_times()[:2]))
    except psutil.Error:
        return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its children so far."""
    return float(_tree_total(pid, lambda p: sum(p.cpu_times()[:2])))


def _tree_total(pid: int, measure: Callable[[psutil.Process], float]) -> float:
    try:
        proc = psutil.Process(pid)
        total = measure(proc)
        for child in proc.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                total += measure(child)
        return total
    except psutil.Error:
        return 0


@dataclass
class MemoryTrack:
    """Resident memory of one process tree: at the start and at its peak."""

    start: int = 0
    peak: int = 0
    samples: int = 0
    cpu_start_s: float = 0.0
    cpu_s: float = 0.0           # CPU time used since the first sample


@dataclass
class RssSampler:
    """Samples the resident memory of named processes in a background thread."""

    pids: dict[str, int]
    interval_s: float = 0.1
    tracks: dict[str, MemoryTrack] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> None:
        """Take one sample of every process."""
        for name, pid in self.pids.items():
            rss = rss_bytes(pid)
            cpu = cpu_seconds(pid)
            track = self.tracks.setdefault(name, MemoryTrack(start=rss, cpu_start_s=cpu))
            track.peak = max(track.peak, rss)
            track.cpu_s = max(track.cpu_s, cpu - track.cpu_start_s)
            track.samples += 1

    def __enter__(self) -> RssSampler:
        self.sample()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.sample()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()
