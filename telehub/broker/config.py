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

Durability: Mosquitto writes its persistence file every `autosave_interval`
(30 s here) and when it stops cleanly. A broker that crashes (SIGKILL, power
loss) loses the QoS 1 messages it acknowledged since the last save, and a device
forgets a reading once it has the broker's PUBACK; a restart or SIGTERM loses nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import psycopg

from telehub.errors import ConfigError
from telehub.mqtt.topics import DEVICE_ID_PATTERN, ROOT, SHARE_GROUP

logger = logging.getLogger(__name__)

# mosquitto_passwd's own count (Mosquitto 2.0). The count is stored in each hash,
# so a higher one can be chosen later without invalidating the hashes already issued.
HASH_ITERATIONS = 101
SALT_BYTES = 12      # as mosquitto_passwd
DIGEST_BYTES = 64    # SHA-512
HASH_PREFIX = "$7$"

# Stock Mosquitto queues at most 1,000 QoS 1 messages for a session and silently
# drops the rest: a hub falling behind during a 20,000-reading burst would lose
# readings. One million readings of ~200 bytes is ~200 MB of broker memory at worst.
MAX_QUEUED_MESSAGES = 1_000_000
# A 10,000-reading store-and-forward batch is ~1.2 MB; the hub refuses past 2 MB.
MAX_PACKET_BYTES = 4_000_000

# hub: reads device topics, writes alerts; reader: responders and integrations reading
# alerts; gateway: the API's HTTP gateway, passing devices' readings on to the hub.
Role = Literal["hub", "reader", "gateway"]
ROLES: tuple[Role, ...] = ("hub", "reader", "gateway")
AuthMode = Literal["dynsec", "files"]
# Where Debian/Ubuntu, Fedora, Alpine and the official Docker image put the plugin.
DYNSEC_PLUGIN_PATHS = ("/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so",
                       "/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so",
                       "/usr/lib64/mosquitto_dynamic_security.so",
                       "/usr/lib/mosquitto_dynamic_security.so",
                       "/usr/lib/mosquitto/mosquitto_dynamic_security.so")

SELECT_DEVICE_CREDENTIALS = """
SELECT device_id, credential_hash FROM devices
 WHERE active AND credential_hash IS NOT NULL
 ORDER BY device_id
"""


def hash_mosquitto_password(password: str, *, iterations: int = HASH_ITERATIONS,
                            salt: bytes | None = None) -> str:
    """A Mosquitto 2 password hash: `$7$<iterations>$<b64 salt>$<b64 PBKDF2-SHA512>`."""
    if not password:
        raise ValueError("an empty password cannot be hashed")
    if iterations < 1:
        raise ValueError("iterations must be positive")
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, DIGEST_BYTES)
    return (f"{HASH_PREFIX}{iterations}${base64.b64encode(salt).decode()}"
            f"${base64.b64encode(digest).decode()}")


def _split_hash(stored: str) -> tuple[int, bytes, bytes] | None:
    """(iterations, salt, digest) of a `$7$` hash; None when it is not one."""
    parts = stored.split("$")
    # "$7$101$salt$hash".split("$") == ["", "7", "101", "salt", "hash"]
    if len(parts) != 5 or parts[0] or parts[1] != "7" or not parts[2].isdigit():
        return None
    try:
        salt = base64.b64decode(parts[3], validate=True)
        digest = base64.b64decode(parts[4], validate=True)
    except ValueError:
        return None
    iterations = int(parts[2])
    if iterations < 1 or not salt or len(digest) != DIGEST_BYTES:
        return None
    return iterations, salt, digest


def is_mosquitto_hash(value: str | None) -> bool:
    """True when `value` is a well-formed Mosquitto `$7$` hash."""
    return value is not None and _split_hash(value) is not None


def verify_mosquitto_password(stored: str | None, password: str) -> bool:
    """True when `password` matches a `$7$` hash (constant-time); False otherwise."""
    parts = _split_hash(stored) if stored else None
    if parts is None:
        return False
    iterations, salt, digest = parts
    candidate = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, DIGEST_BYTES)
    return hmac.compare_digest(candidate, digest)


def check_username(name: str) -> str:
    """`name` if it is safe as a broker username and ACL `%u`; else ConfigError.

    Device ids already follow this pattern; holding service users to it keeps
    `:` out of the password file and MQTT wildcards (`+`, `#`) and `/` out of
    the topics that `%u` expands to.
    """
    if not DEVICE_ID_PATTERN.fullmatch(name):
        raise ConfigError(f"'{name}' cannot be a broker username: use 2-64 letters, digits, "
                          "'.', '_' or '-', starting with a letter or digit.")
    return name


def write_password_file(entries: Iterable[tuple[str, str]], path: Path) -> int:
    """Write `username:hash` lines (mode 0600, replaced atomically); returns how many.

    Every hash must already be a `$7$` hash: plain passwords never reach the disk.
    """
    lines = []
    seen: set[str] = set()
    for username, password_hash in entries:
        check_username(username)
        if username in seen:
            raise ConfigError(f"broker username '{username}' appears twice.")
        if not is_mosquitto_hash(password_hash):
            raise ConfigError(f"the password of '{username}' is not a Mosquitto $7$ hash.")
        seen.add(username)
        lines.append(f"{username}:{password_hash}\n")
    _write_private(path, "".join(lines))
    return len(lines)


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` readable by its owner only, replacing any old file atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class ServiceUser:
    """A non-device broker user: the hub, or a responder/integration reading alerts."""

    name: str
    role: Role
    password_hash: str

    @classmethod
    def from_secret(cls, name: str, role: Role, secret: str) -> ServiceUser:
        """A user from a plain password or an existing `$7$` hash (read from settings or a file)."""
        if role not in ROLES:
            raise ConfigError(f"unknown broker role '{role}' (use {', '.join(ROLES)}).")
        secret = secret.strip()
        if not secret:
            raise ConfigError(f"the password for broker user '{name}' is empty.")
        hashed = secret if is_mosquitto_hash(secret) else hash_mosquitto_password(secret)
        return cls(check_username(name), role, hashed)


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
        "persistence true", f"persistence_location {data_dir}/", "autosave_interval 30",
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


def render_acl(service_users: Iterable[ServiceUser], topic_root: str = ROOT) -> str:
    """The text of the ACL (files mode): devices write their own topics; services their roles."""
    devices = f"{topic_root}/devices"
    lines = ["# Telehub broker ACL, written by `telehub broker config --auth files`.",
             "# Anything not granted here is refused. Mosquitto 2.0 checks these rules",
             "# when a message is published or delivered, not when a client subscribes.", "",
             "# Devices: the username is the device id; a device may only publish under its",
             "# own id (readings, status, events) and receives nothing.",
             f"pattern write {devices}/%u/#"]
    for user in sorted(service_users, key=lambda u: u.name):
        lines += ["", f"user {user.name}"]
        if user.role == "hub":
            lines += [f"topic read {devices}/+/#",
                      f"topic write {topic_root}/alerts/#",
                      f"topic readwrite {topic_root}/hub/#"]
        elif user.role == "gateway":
            lines += [f"topic write {devices}/+/readings"]
        else:
            lines += [f"topic read {topic_root}/alerts/#"]
    return "\n".join(lines) + "\n"


def _acl(acltype: str, topic: str) -> dict[str, Any]:
    return {"acltype": acltype, "topic": topic, "priority": 0, "allow": True}


def _service_role_acls(role: Role, topic_root: str) -> list[dict[str, Any]]:
    """What the hub, reader and gateway roles may do (dynsec mode)."""
    if role == "hub":
        devices, hub = f"{topic_root}/devices/+/#", f"{topic_root}/hub/#"
        # The plugin matches a shared subscription with its `$share/<group>/` prefix.
        shared = f"$share/{SHARE_GROUP}/{devices}"
        return [_acl("subscribePattern", devices), _acl("subscribePattern", shared),
                _acl("publishClientReceive", devices),
                _acl("publishClientSend", f"{topic_root}/alerts/#"),
                _acl("publishClientSend", hub), _acl("subscribePattern", hub),
                _acl("publishClientReceive", hub)]
    if role == "gateway":
        return [_acl("publishClientSend", f"{topic_root}/devices/+/readings")]
    alerts = f"{topic_root}/alerts/#"
    return [_acl("subscribePattern", alerts), _acl("publishClientReceive", alerts)]


def _dynsec_client(username: str, password_hash: str, roles: list[str], *,
                   pinned: bool) -> dict[str, Any]:
    """A dynsec client whose password is the `$7$` hash split into its parts.

    A pinned client may connect only with its username as its MQTT client id.
    Without that, a device that knew a hub worker's client id could connect under
    it, take over the hub's persistent session and have the readings queued there
    discarded (it may not receive them). Hub and gateway users stay unpinned: a
    process has several connections (consumer, notifier), each with its own id.
    """
    parts = _split_hash(password_hash)
    if parts is None:
        raise ConfigError(f"the password of '{username}' is not a Mosquitto $7$ hash.")
    iterations, salt, digest = parts
    client: dict[str, Any] = {
        "username": check_username(username), "textname": "",
        "password": base64.b64encode(digest).decode(),
        "salt": base64.b64encode(salt).decode(), "iterations": iterations,
        "roles": [{"rolename": r, "priority": 0} for r in roles]}
    if pinned:
        client["clientid"] = username
    return client


def render_dynsec(devices: Iterable[tuple[str, str]], service_users: Iterable[ServiceUser],
                  topic_root: str = ROOT) -> dict[str, Any]:
    """The dynamic-security plugin's configuration: one role per device, nothing by default.

    Mosquitto 2.0's plugin has no `%u` substitution, so each device gets a role
    naming its own topic. Unlike `acl_file`, the plugin checks SUBSCRIBE: a device
    cannot even join the hub's shared subscription (where, under `acl_file`, it
    would be handed a share of other devices' readings that are then discarded).
    """
    clients, roles = [], []
    for user in service_users:
        clients.append(_dynsec_client(user.name, user.password_hash, [f"telehub-{user.role}"],
                                      pinned=user.role == "reader"))
    for role in sorted({u.role for u in service_users}):
        roles.append({"rolename": f"telehub-{role}", "acls": _service_role_acls(role, topic_root)})
    for device_id, password_hash in devices:
        device_role = f"device-{device_id}"
        clients.append(_dynsec_client(device_id, password_hash, [device_role], pinned=True))
        roles.append({"rolename": device_role, "acls": [
            _acl("publishClientSend", f"{topic_root}/devices/{device_id}/#")]})
    return {"defaultACLAccess": {"publishClientSend": False, "publishClientReceive": False,
                                 "subscribe": False, "unsubscribe": True},
            "clients": clients, "groups": [], "roles": roles}


def device_credentials(conn: psycopg.Connection[Any]) -> tuple[list[tuple[str, str]], list[str]]:
    """(device id, `$7$` hash) of every active device with a credential, and ids skipped.

    A device whose stored credential is not a Mosquitto hash (e.g. issued before
    broker credentials were `$7$`) is skipped: it needs new credentials.
    """
    usable: list[tuple[str, str]] = []
    skipped: list[str] = []
    for row in conn.execute(SELECT_DEVICE_CREDENTIALS).fetchall():
        device_id, credential = str(row["device_id"]), str(row["credential_hash"])  # type: ignore[call-overload]
        if is_mosquitto_hash(credential):
            usable.append((device_id, credential))
        else:
            skipped.append(device_id)
    return usable, skipped


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
        _write_private(cfg.acl_path, render_acl(service_users, cfg.topic_root))
        paths: tuple[Path, ...] = (cfg.conf_path, cfg.acl_path, cfg.passwd_path)
    else:
        dynsec = render_dynsec(device_list, service_users, cfg.topic_root)
        _write_private(cfg.dynsec_path, json.dumps(dynsec, indent=1) + "\n")
        paths = (cfg.conf_path, cfg.dynsec_path)
    _write_private(cfg.conf_path, conf)
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
