"""`$7$` password hashes and `telehub broker config`, checked against mosquitto's own tools."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import typer
from typer.testing import CliRunner

from telehub.broker.access import ServiceUser
from telehub.broker.config import (
    BrokerConfig,
    render_conf,
    start_mosquitto_with,
    write_broker_files,
)
from telehub.broker.passwords import (
    check_username,
    hash_mosquitto_password,
    is_mosquitto_hash,
    verify_mosquitto_password,
    write_password_file,
)
from telehub.cli.broker import register
from telehub.config import get_settings
from telehub.demo.embedded import free_port, mosquitto_binary, stop_process
from telehub.errors import ConfigError
from telehub.passwords import hash_password
from tests.security.mqtt_probe import Client

needs_mosquitto_passwd = pytest.mark.skipif(shutil.which("mosquitto_passwd") is None,
                                            reason="needs mosquitto_passwd")


@needs_mosquitto_passwd
def test_hash_is_the_one_mosquitto_passwd_writes(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    passwd.touch()
    subprocess.run(["mosquitto_passwd", "-b", str(passwd), "ox-1", "pässword 1"], check=True)
    name, stored = passwd.read_text().strip().split(":", 1)
    assert name == "ox-1" and is_mosquitto_hash(stored)
    _, _, iterations, salt_b64, _ = stored.split("$")
    import base64

    ours = hash_mosquitto_password("pässword 1", iterations=int(iterations),
                                   salt=base64.b64decode(salt_b64))
    assert ours == stored
    assert verify_mosquitto_password(stored, "pässword 1")
    assert not verify_mosquitto_password(stored, "pässword 2")


def test_hashes_are_salted_and_verify() -> None:
    first, second = hash_mosquitto_password("secret-1"), hash_mosquitto_password("secret-1")
    assert first != second and first.startswith("$7$101$")
    assert verify_mosquitto_password(first, "secret-1")
    assert verify_mosquitto_password(second, "secret-1")
    assert not verify_mosquitto_password(first, "secret-2")
    for bad in [None, "", "secret-1", "$6$abc$def", "$7$x$abc$def", "$7$101$!!$!!",
                hash_password("secret-1")]:
        assert not is_mosquitto_hash(bad)
        assert not verify_mosquitto_password(bad, "secret-1")
    with pytest.raises(ValueError, match="empty"):
        hash_mosquitto_password("")


def test_password_file_refuses_plain_passwords_bad_names_and_doubles(tmp_path: Path) -> None:
    good = hash_mosquitto_password("pw-1")
    path = tmp_path / "passwd"
    assert write_password_file([("ox-1", good), ("ox-2", good)], path) == 2
    assert path.read_text() == f"ox-1:{good}\nox-2:{good}\n"
    assert path.stat().st_mode & 0o777 == 0o600
    for entries, message in [([("ox-1", "plain-password")], "not a Mosquitto"),
                             ([("ox-1", good), ("ox-1", good)], "twice"),
                             ([("ox+1", good)], "cannot be a broker username"),
                             ([("a/b", good)], "cannot be a broker username"),
                             ([("#", good)], "cannot be a broker username"),
                             ([("x:y", good)], "cannot be a broker username")]:
        with pytest.raises(ConfigError, match=message):
            write_password_file(entries, tmp_path / "other")
    assert not (tmp_path / "other").exists()
    assert check_username("telehub-hub") == "telehub-hub"


def test_config_needs_a_hub_and_a_listener_and_distinct_names(tmp_path: Path) -> None:
    hub = ServiceUser.from_secret("telehub-hub", "hub", "hub-pw")
    reader = ServiceUser.from_secret("responder-1", "reader", "r-pw")
    files = BrokerConfig(out_dir=tmp_path, auth="files")
    with pytest.raises(ConfigError, match="no hub user"):
        write_broker_files(files, [], [reader])
    with pytest.raises(ConfigError, match="telehub-hub"):
        write_broker_files(files, [("telehub-hub", hash_mosquitto_password("x"))], [hub])
    with pytest.raises(ConfigError, match="listener"):
        render_conf(BrokerConfig(out_dir=tmp_path, auth="files", port=None))
    with pytest.raises(ConfigError, match="dynamic-security plugin was not found"):
        render_conf(BrokerConfig(out_dir=tmp_path, dynsec_plugin=tmp_path / "missing.so"))
    # An existing $7$ hash is kept as it is; a plain password is hashed.
    assert ServiceUser.from_secret("x1", "hub", hub.password_hash).password_hash == \
        hub.password_hash
    assert verify_mosquitto_password(hub.password_hash, "hub-pw")


def _add_device(conn: psycopg.Connection, device_id: str, credential: str | None,
                active: bool = True) -> None:
    conn.execute("INSERT INTO devices (device_id, kind, credential_hash, active) "
                 "VALUES (%s, 'oximeter', %s, %s)", (device_id, credential, active))


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """A runner for `telehub broker …` on this test's database, hub credentials in the URL."""
    monkeypatch.setenv("TELEHUB_DATABASE_URL", db_url)
    monkeypatch.setenv("TELEHUB_MQTT_URL", "mqtt://telehub-hub:hub-pw@127.0.0.1:1883")
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        pass

    register(app)
    return app


@pytest.mark.skipif(mosquitto_binary() is None, reason="needs mosquitto")
@pytest.mark.parametrize("auth", ["dynsec", "files"])
def test_cli_writes_active_devices_with_broker_hashes_and_mosquitto_honours_them(
        auth: str, cli: CliRunner, conn: psycopg.Connection, tmp_path: Path) -> None:
    _add_device(conn, "ox-1", hash_mosquitto_password("ox-1-pw"))
    _add_device(conn, "ox-2", hash_password("ox-2-pw"))        # argon2: not usable by mosquitto
    _add_device(conn, "ox-3", hash_mosquitto_password("ox-3-pw"), active=False)
    _add_device(conn, "ox-4", None)
    conn.commit()
    (tmp_path / "responder.pw").write_text("responder-pw\n")
    out, port = tmp_path / "broker", free_port()
    result = cli.invoke(_app(), [
        "broker", "config", "--out", str(out), "--auth", auth, "--port", str(port),
        "--bind", "127.0.0.1", "--run-as", pwd.getpwuid(os.geteuid()).pw_name,
        "--log-file", str(tmp_path / "mosquitto.log"),
        "--reader", f"responder-1={tmp_path / 'responder.pw'}"])
    assert result.exit_code == 0, result.output
    assert "1 device(s), 2 service user(s)" in result.stdout
    assert "ox-2" in result.stderr and "not a $7$ hash" in result.stderr
    if auth == "dynsec":
        users = {c["username"] for c in json.loads((out / "dynamic-security.json").read_text())
                 ["clients"]}
        assert users == {"ox-1", "telehub-hub", "responder-1"}
    else:
        assert [line.split(":")[0] for line in (out / "passwd").read_text().splitlines()] == \
            ["ox-1", "telehub-hub", "responder-1"]
    for path in out.iterdir():
        if path.is_file():
            assert path.stat().st_mode & 0o077 == 0, f"{path.name} is readable by others"
        assert "hub-pw" not in path.read_text() if path.is_file() else True

    proc = start_mosquitto_with(out / "mosquitto.conf", [port], log=tmp_path / "stderr.log")
    try:
        for user, password, accepted in [("ox-1", "ox-1-pw", True), ("ox-2", "ox-2-pw", False),
                                         ("ox-3", "ox-3-pw", False), ("ox-4", "", False),
                                         ("telehub-hub", "hub-pw", True),
                                         ("responder-1", "responder-pw", True)]:
            client = Client(user, password, port)
            try:
                assert client.connect() is accepted, user
            finally:
                client.close()
    finally:
        stop_process(proc)


def test_cli_without_hub_credentials_fails_clearly(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEHUB_MQTT_URL", "mqtt://127.0.0.1:1883")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(_app(), ["broker", "config", "--out", str(tmp_path),
                                             "--no-devices", "--auth", "files"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError)
    assert "no hub credentials" in str(result.exception)
    assert list(tmp_path.iterdir()) == []
