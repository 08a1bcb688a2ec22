"""Who may do what on the broker: the service users' roles, the ACL file (files mode) and the
dynamic-security plugin's clients and roles (dynsec mode), one role per device."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import psycopg
from psycopg.rows import tuple_row

from telehub.broker.passwords import (
    check_username,
    hash_mosquitto_password,
    is_mosquitto_hash,
    split_hash,
)
from telehub.errors import ConfigError, NotFoundError
from telehub.mqtt.topics import ROOT, SHARE_GROUP

# hub: reads device topics, writes alerts; reader: responders and integrations reading
# alerts; gateway: the API's HTTP gateway, passing devices' readings on to the hub.
Role = Literal["hub", "reader", "gateway"]
ROLES: tuple[Role, ...] = ("hub", "reader", "gateway")
# Device passwords are random, 144 bits: long enough that the broker's cheap PBKDF2 is not
# the weak point.
CREDENTIAL_BYTES = 18
_STORE_DEVICE_HASH_SQL = """
UPDATE devices n SET credential_hash = %s
  FROM (SELECT id, credential_hash IS NOT NULL AS had FROM devices
         WHERE device_id = %s FOR UPDATE) o
 WHERE n.id = o.id
RETURNING o.had, n.patient_id
"""
SELECT_DEVICE_CREDENTIALS = """
SELECT device_id, credential_hash FROM devices
 WHERE active AND credential_hash IS NOT NULL
 ORDER BY device_id
"""



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
    parts = split_hash(password_hash)
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
class IssuedPassword:
    """A device's new broker password (shown once, never stored) and what it replaced."""

    device_id: str
    password: str
    replaced: bool              # the device had a password before, which this one replaces
    patient_id: int | None


def issue_device_password(conn: psycopg.Connection[Any], device_id: str) -> IssuedPassword:
    """Give a device a new random broker password in the caller's transaction, storing only
    its `$7$` hash; the old one works until the broker's users are regenerated."""
    password = secrets.token_urlsafe(CREDENTIAL_BYTES)
    row = conn.cursor(row_factory=tuple_row).execute(
        _STORE_DEVICE_HASH_SQL, (hash_mosquitto_password(password), device_id)).fetchone()
    if row is None:
        raise NotFoundError(f"No device '{device_id}' is registered.")
    return IssuedPassword(device_id, password, bool(row[0]), row[1])
