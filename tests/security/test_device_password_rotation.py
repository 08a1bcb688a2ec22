"""Rotating a device's broker password from the command line, as docs/operations.md says:
`telehub devices rotate-password`, `telehub broker config`, restart the broker; then a real
Mosquitto refuses the old password and accepts the new one."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from telehub.broker.config import ConfigError, find_dynsec_plugin, start_mosquitto_with
from telehub.broker.passwords import verify_mosquitto_password
from telehub.care import registration as registry
from telehub.config import Settings
from telehub.demo.embedded import free_port, mosquitto_binary, stop_process

ROOT = Path(__file__).resolve().parents[2]
DEVICE = "ox-rotate-1"
HUB_PASSWORD = "hub-password-for-this-test"


def _telehub(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """The `telehub` command through its own entry point, on this test's database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEHUB_")}
    env.update(TELEHUB_DATABASE_URL=settings.require_database_url(),
               TELEHUB_TOPIC_ROOT=settings.topic_root)
    return subprocess.run([sys.executable, "-m", "telehub", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


def _rotate(settings: Settings) -> dict[str, Any]:
    import json

    done = _telehub(settings, "devices", "rotate-password", "--device-id", DEVICE, "--json")
    assert done.returncode == 0, done.stderr
    out: dict[str, Any] = json.loads(done.stdout)
    return out


def _hash(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute("SELECT credential_hash FROM devices WHERE device_id = %s",
                       (DEVICE,)).fetchone()
    assert row is not None
    return str(row["credential_hash"])  # type: ignore[call-overload]


def _accepted(port: int, password: str) -> bool:
    """Whether the broker accepts the device signing in with `password` (CONNACK)."""
    answered = threading.Event()
    result: list[bool] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=DEVICE, protocol=mqtt.MQTTv5)
    client.username_pw_set(DEVICE, password)

    def on_connect(_c: object, _u: object, _f: object, rc: Any, _p: object) -> None:
        result.append(not rc.is_failure)
        answered.set()

    client.on_connect = on_connect
    client.connect("127.0.0.1", port, keepalive=10)
    client.loop_start()
    try:
        assert answered.wait(10), "no CONNACK"
    finally:
        client.disconnect()
        client.loop_stop()
    return result[0]


@pytest.mark.skipif(mosquitto_binary() is None, reason="needs mosquitto")
def test_a_rotated_password_replaces_the_old_one_once_the_broker_is_regenerated(
        settings: Settings, conn: psycopg.Connection[Any], tmp_path: Path) -> None:
    team = registry.add_team(conn, "north", "North Locality")
    assert team
    registry.add_device(conn, device_id=DEVICE, kind="oximeter")
    conn.commit()
    try:
        find_dynsec_plugin()
        auth = "dynsec"
    except ConfigError:
        auth = "files"
    hub_file = tmp_path / "hub.password"
    hub_file.write_text(HUB_PASSWORD + "\n")
    out, port = tmp_path / "broker", free_port()
    config = ["broker", "config", "--out", str(out), "--port", str(port), "--bind",
              "127.0.0.1", "--data-dir", str(tmp_path / "data"), "--log-file",
              str(tmp_path / "mosquitto.log"), "--run-as", pwd.getpwuid(os.geteuid()).pw_name,
              "--hub-password-file", str(hub_file), "--auth", auth]

    first = _rotate(settings)
    assert first["username"] == DEVICE and first["replaced"] is False
    assert first["readings_topic"] == f"{settings.topic_root}/devices/{DEVICE}/readings"
    done = _telehub(settings, *config)
    assert done.returncode == 0, done.stderr
    broker = start_mosquitto_with(out / "mosquitto.conf", [port], log=tmp_path / "stderr.log")
    try:
        assert _accepted(port, first["password"])
        second = _rotate(settings)
        assert second["replaced"] is True and second["password"] != first["password"]
        assert verify_mosquitto_password(_hash(conn), second["password"])
        assert not verify_mosquitto_password(_hash(conn), first["password"])
        # Until the broker's users are regenerated and it restarts, the old one still works.
        assert _accepted(port, first["password"])
        assert not _accepted(port, second["password"])
        done = _telehub(settings, *config)
        assert done.returncode == 0, done.stderr
        stop_process(broker)
        broker = start_mosquitto_with(out / "mosquitto.conf", [port],
                                      log=tmp_path / "stderr.log")
        assert not _accepted(port, first["password"])
        assert _accepted(port, second["password"])
    finally:
        stop_process(broker)
    audit = conn.execute("SELECT actor, detail FROM audit_log WHERE action = "
                         "'issue-credentials' ORDER BY id").fetchall()
    assert [a["detail"] for a in audit] == [  # type: ignore[call-overload]
        {"target": DEVICE, "replaced": False}, {"target": DEVICE, "replaced": True}]
    assert all(a["actor"].startswith("os:") for a in audit)  # type: ignore[call-overload]
    assert first["password"] not in (tmp_path / "mosquitto.log").read_text(errors="replace")


def test_rotating_an_unknown_device_is_a_clear_error(settings: Settings,
                                                     conn: psycopg.Connection[Any]) -> None:
    name = f"nope-{uuid.uuid4().hex[:6]}"
    done = _telehub(settings, "devices", "rotate-password", "--device-id", name)
    assert done.returncode == 1
    assert f"error: No device '{name}' is registered." in done.stderr
    assert "Traceback" not in done.stderr
    row = conn.execute("SELECT count(*) AS n FROM audit_log").fetchone()
    assert row is not None and row["n"] == 0  # type: ignore[call-overload]
