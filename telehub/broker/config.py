"""The shipped Mosquitto configuration: broker settings, users and access rules for a deployment.

`telehub broker config --out DIR` writes `mosquitto.conf` (no anonymous clients,
persistence, a queue deep enough for the hub's persistent session to ride out a
burst, a plain listener and optionally a TLS listener on 8883 with the
operator's CA, certificate and key) and the users and their rights:

- a device (its username is its device id) may only *publish* under
  `telehub/v1/devices/<its id>/#`: it can neither speak for another device nor
  subscribe to readings or alerts; with `--auth dynsec` it must also connect with
  its device id as its MQTT client id, so it cannot take over another client's
  session (a hub worker's, whose queued readings it would make the broker discard);
- the hub reads every device topic (shared subscriptions included) and writes
  alerts and its own status; responder and integration users read alerts; the
  API's HTTP gateway may publish devices' readings and nothing else.

Passwords are Mosquitto 2's `$7$` PBKDF2-SHA512 hashes (what `mosquitto_passwd`
writes, and what `devices.credential_hash` holds). Two ways to enforce the rules:

- `--auth dynsec` (default): Mosquitto's dynamic-security plugin, one role per
  device, refusing anything not granted, SUBSCRIBE included;
- `--auth files`: `password_file` + `acl_file` (`pattern write …/%u/#`), for a
  broker without the plugin. Mosquitto 2.0 checks an ACL file on publish and
  delivery but not on SUBSCRIBE, so a device may join the hub's shared
  subscription group and take (and lose) a share of everyone's readings: with
  this mode run the hub without a shared subscription. Nor can it tie client ids
  to users, so a device could take over a hub worker's session.

Regenerate after adding or revoking a device and restart the broker; sessions
and queued messages are persisted across the restart.

Durability: Mosquitto keeps its state in memory and writes the whole of it to its
persistence file at each save and when it stops cleanly; a broker that crashes (SIGKILL,
power loss) loses the QoS 1 messages it acknowledged since the last save, and a device
forgets a reading once it has the broker's PUBACK. Saving on a timer (`autosave_interval
30`) leaves a window of up to 30 s of readings; the shipped configuration saves after
every AUTOSAVE_CHANGES changes instead (`autosave_on_changes true`), which bounds the loss
to fewer than that many messages at a measured cost in throughput (deploy/mosquitto/
README.md). A restart or SIGTERM loses nothing.
"""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from telehub.broker.access import ServiceUser, render_acl, render_dynsec
from telehub.broker.passwords import write_password_file, write_private
from telehub.errors import ConfigError
from telehub.mqtt.topics import ROOT

logger = logging.getLogger(__name__)

# Stock Mosquitto queues at most 1,000 QoS 1 messages for a session and silently
# drops the rest: a hub falling behind during a 20,000-reading burst would lose
# readings. One million readings of ~200 bytes is ~200 MB of broker memory at worst.
MAX_QUEUED_MESSAGES = 1_000_000
# A 10,000-reading store-and-forward batch is ~1.2 MB; the hub refuses past 2 MB.
MAX_PACKET_BYTES = 4_000_000
# Save the broker's state after this many changes (a message stored, delivered, a session
# changed): a crash loses fewer acknowledged messages than this. Each save writes the whole
# state, so fewer changes between saves cost throughput (measured by `telehub bench ingest
# --broker-saves`); None saves every AUTOSAVE_SECONDS instead.
AUTOSAVE_CHANGES: int | None = 250
AUTOSAVE_SECONDS = 30


def persistence_lines(data_dir: Path, autosave_changes: int | None = AUTOSAVE_CHANGES
                      ) -> list[str]:
    """mosquitto.conf lines that persist sessions and queued messages to `data_dir`, saved
    after `autosave_changes` changes (None: every AUTOSAVE_SECONDS seconds)."""
    lines = ["persistence true", f"persistence_location {data_dir}/"]
    if autosave_changes is None:
        return [*lines, f"autosave_interval {AUTOSAVE_SECONDS}"]
    if autosave_changes < 1:
        raise ConfigError("the broker saves after at least 1 change (or on a timer)")
    return [*lines, "autosave_on_changes true", f"autosave_interval {autosave_changes}"]

AuthMode = Literal["dynsec", "files"]
# Where Debian/Ubuntu, Fedora, Alpine and the official Docker image put the plugin.
DYNSEC_PLUGIN_PATHS = ("/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so",
                       "/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so",
                       "/usr/lib64/mosquitto_dynamic_security.so",
                       "/usr/lib/mosquitto_dynamic_security.so",
                       "/usr/lib/mosquitto/mosquitto_dynamic_security.so")

@dataclass(frozen=True)
class TlsFiles:
    """The TLS listener's CA bundle, certificate and private key (PEM paths)."""

    cafile: Path
    certfile: Path
    keyfile: Path


@dataclass(frozen=True)
class BrokerConfig:
    """What the generated `mosquitto.conf` says."""

    out_dir: Path
    auth: AuthMode = "dynsec"
    port: int | None = 1883              # plain MQTT; None: TLS only
    bind: str | None = None              # None: every interface
    tls: TlsFiles | None = None
    tls_port: int = 8883
    data_dir: Path | None = None         # persistence; None: <out_dir>/data
    run_as: str | None = None            # mosquitto started as root switches to this user
    topic_root: str = ROOT
    log_file: Path | None = None         # None: log to stderr (journald)
    dynsec_plugin: Path | None = None    # None: looked for where Mosquitto packages put it
    autosave_changes: int | None = AUTOSAVE_CHANGES   # None: save on a 30 s timer
    extra: Sequence[str] = field(default_factory=tuple)

    @property
    def conf_path(self) -> Path:
        """Where the broker configuration is written."""
        return self.out_dir / "mosquitto.conf"

    @property
    def acl_path(self) -> Path:
        """Where the ACL is written (files mode)."""
        return self.out_dir / "acl"

    @property
    def passwd_path(self) -> Path:
        """Where the password file is written (files mode)."""
        return self.out_dir / "passwd"

    @property
    def dynsec_path(self) -> Path:
        """Where the dynamic-security plugin's users and roles are written (dynsec mode)."""
        return self.out_dir / "dynamic-security.json"


def find_dynsec_plugin(explicit: Path | None = None) -> Path:
    """The dynamic-security plugin shipped with Mosquitto 2, or a ConfigError saying what to do."""
    candidates = [explicit] if explicit else [Path(p) for p in DYNSEC_PLUGIN_PATHS]
    for path in candidates:
        if path.is_file():
            return path.resolve()
    raise ConfigError("Mosquitto's dynamic-security plugin was not found "
                      f"({', '.join(str(p) for p in candidates)}): give --dynsec-plugin PATH, "
                      "or --auth files (weaker: see `telehub broker config --help`).")


def _listener_block(cfg: BrokerConfig, port: int, *, tls: TlsFiles | None) -> list[str]:
    """One listener; in files mode it carries its own authentication (per_listener_settings)."""
    lines = [f"listener {port}" + (f" {cfg.bind}" if cfg.bind else ""), "protocol mqtt"]
    if tls is not None:
        lines += [f"cafile {tls.cafile}", f"certfile {tls.certfile}", f"keyfile {tls.keyfile}",
                  "tls_version tlsv1.2",
                  # Devices sign in with username and password inside TLS; client
                  # certificates are optional (require_certificate true to insist).
                  "require_certificate false"]
    if cfg.auth == "files":
        lines += ["allow_anonymous false", f"password_file {cfg.passwd_path}",
                  f"acl_file {cfg.acl_path}"]
    return lines


def render_conf(cfg: BrokerConfig) -> str:
    """The text of `mosquitto.conf` for a Telehub deployment."""
    if cfg.port is None and cfg.tls is None:
        raise ConfigError("the broker needs a plain listener, a TLS listener or both.")
    data_dir = cfg.data_dir or cfg.out_dir / "data"
    lines = ["# Telehub broker configuration, written by `telehub broker config`.",
             "# Regenerate rather than edit; restart the broker after regenerating",
             "# (sessions and queued messages persist across the restart)."]
    if cfg.auth == "files":
        lines += ["per_listener_settings true"]
    else:
        lines += ["per_listener_settings false", "allow_anonymous false",
                  f"plugin {find_dynsec_plugin(cfg.dynsec_plugin)}",
                  f"plugin_opt_config_file {cfg.dynsec_path}"]
    if cfg.run_as:
        lines.append(f"user {cfg.run_as}")
    lines += [
        *persistence_lines(data_dir, cfg.autosave_changes),
        # Forget a persistent session abandoned for two weeks (a decommissioned worker).
        "persistent_client_expiration 14d",
        f"max_queued_messages {MAX_QUEUED_MESSAGES}", "max_queued_bytes 0",
        f"max_packet_size {MAX_PACKET_BYTES}",
        "set_tcp_nodelay true",
        f"log_dest file {cfg.log_file}" if cfg.log_file else "log_dest stderr",
        "log_type error", "log_type warning", "log_type notice",
        "connection_messages true", "log_timestamp_format %Y-%m-%dT%H:%M:%S",
    ]
    if cfg.port is not None:
        lines += ["", *_listener_block(cfg, cfg.port, tls=None)]
    if cfg.tls is not None:
        lines += ["", *_listener_block(cfg, cfg.tls_port, tls=cfg.tls)]
    lines += list(cfg.extra)
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class WrittenFiles:
    """What `write_broker_files` wrote."""

    paths: tuple[Path, ...]
    devices: int
    services: int


def write_broker_files(cfg: BrokerConfig, devices: Iterable[tuple[str, str]],
                       service_users: Sequence[ServiceUser]) -> WrittenFiles:
    """Write mosquitto.conf and either dynamic-security.json or acl + passwd into `cfg.out_dir`."""
    if not any(u.role == "hub" for u in service_users):
        raise ConfigError("no hub user: the hub could not read any reading.")
    device_list = list(devices)
    names = [u.name for u in service_users] + [d for d, _ in device_list]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise ConfigError(f"broker username(s) {', '.join(doubled)} given twice "
                          "(a device id may not be a service user's name).")
    conf = render_conf(cfg)  # first: it fails early when the plugin is missing
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    (cfg.data_dir or cfg.out_dir / "data").mkdir(parents=True, exist_ok=True)
    if cfg.auth == "files":
        write_password_file([*device_list, *((u.name, u.password_hash) for u in service_users)],
                            cfg.passwd_path)
        write_private(cfg.acl_path, render_acl(service_users, cfg.topic_root))
        paths: tuple[Path, ...] = (cfg.conf_path, cfg.acl_path, cfg.passwd_path)
    else:
        dynsec = render_dynsec(device_list, service_users, cfg.topic_root)
        write_private(cfg.dynsec_path, json.dumps(dynsec, indent=1) + "\n")
        paths = (cfg.conf_path, cfg.dynsec_path)
    write_private(cfg.conf_path, conf)
    return WrittenFiles(paths, devices=len(device_list), services=len(service_users))


def start_mosquitto_with(conf: Path, ports: Sequence[int], *, log: Path,
                         timeout: float = 15.0) -> subprocess.Popen[bytes]:
    """Start `mosquitto -c conf` (its output into `log`) and wait until it listens on `ports`."""
    from telehub.demo.embedded import mosquitto_binary, wait_for_port

    binary = mosquitto_binary()
    if binary is None:
        raise FileNotFoundError("mosquitto is not installed")
    with log.open("ab") as out:
        proc = subprocess.Popen([binary, "-c", str(conf)], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        for port in ports:
            wait_for_port("127.0.0.1", port, timeout=timeout)
    except TimeoutError as err:
        proc.kill()
        proc.wait()
        tail = log.read_text(errors="replace")[-500:]
        raise ConfigError(f"mosquitto did not start: {tail}") from err
    return proc
