"""The systemd units in deploy/systemd are valid, sandboxed, start real `telehub` commands,
and set only real settings; secrets reach the services as credentials, never as variables."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from pydantic import SecretStr

from telehub.cli import app
from telehub.config import Settings
from tests.security.systemd_units import (
    DEPLOY,
    SHIPPED_MOSQUITTO,
    SHIPPED_TELEHUB,
    cli_env_names,
    env_file_paths,
    exec_start,
    find_mosquitto,
    read_env_file,
    read_unit,
    setting_env_names,
    setting_keys,
    unit_environment,
    unit_paths,
)

SYSTEMD_ANALYZE = shutil.which("systemd-analyze") or (
    "/usr/bin/systemd-analyze" if Path("/usr/bin/systemd-analyze").is_file() else None)
needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None,
    reason="systemd-analyze is not installed here (apt-get install systemd)")

TELEHUB = str(Path(sys.executable).parent / "telehub")   # the test venv's console script
SERVICES = sorted(p.name for p in DEPLOY.glob("*.service"))
TELEHUB_SERVICES = [name for name in SERVICES if name != "telehub-broker.service"]
# What the units promise in README.md; each of these lines must be in every service.
SANDBOX = {
    "NoNewPrivileges": "true", "ProtectSystem": "strict", "ProtectHome": "true",
    "PrivateTmp": "true", "PrivateDevices": "true", "CapabilityBoundingSet": "",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX", "ProtectKernelTunables": "true",
    "ProtectKernelModules": "true", "ProtectControlGroups": "true", "RestrictSUIDSGID": "true",
    "RestrictNamespaces": "true", "LockPersonality": "true", "SystemCallArchitectures": "native",
}
# systemd-analyze security's exposure, x10 (its --threshold scale): 20 is "OK"-or-better.
MAX_EXPOSURE = 20


def _installable_copy(tmp_path: Path) -> Path:
    """The units copied with their binaries pointed at this machine's (the test venv's
    telehub, the mosquitto found here), plus one instance of the hub template."""
    mosquitto = find_mosquitto()
    out = tmp_path / "units"
    out.mkdir()
    for path in unit_paths():
        text = path.read_text().replace(SHIPPED_TELEHUB, TELEHUB)
        if mosquitto:
            text = text.replace(SHIPPED_MOSQUITTO, mosquitto)
        (out / path.name).write_text(text)
    shutil.copy(out / "telehub-hub@.service", out / "telehub-hub@1.service")
    return out


def _verifiable(name: str) -> str:
    if name == "telehub-broker.service" and find_mosquitto() is None:
        pytest.skip("mosquitto is not installed here (apt-get install mosquitto)")
    return "telehub-hub@1.service" if name == "telehub-hub@.service" else name


@needs_systemd_analyze
@pytest.mark.parametrize("name", [*SERVICES, "telehub.target"])
def test_unit_passes_systemd_analyze_verify(name: str, tmp_path: Path) -> None:
    units = _installable_copy(tmp_path)
    target = units / _verifiable(name)
    assert SYSTEMD_ANALYZE is not None
    done = subprocess.run([SYSTEMD_ANALYZE, "verify", "--man=no", str(target)],
                          capture_output=True, text=True, timeout=60, check=False)
    # verify exits 0 on warnings such as a key in the wrong section: any output fails.
    assert done.returncode == 0 and not done.stdout.strip() and not done.stderr.strip(), \
        done.stdout + done.stderr


@needs_systemd_analyze
def test_verify_catches_a_key_in_the_wrong_section(tmp_path: Path) -> None:
    units = _installable_copy(tmp_path)
    api = units / "telehub-api.service"
    api.write_text(api.read_text().replace("[Service]\n", "[Service]\nStartLimitIntervalSec=0\n"))
    done = subprocess.run([SYSTEMD_ANALYZE or "", "verify", "--man=no", str(api)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert "Unknown key 'StartLimitIntervalSec' in section [Service]" in done.stdout + done.stderr


@needs_systemd_analyze
@pytest.mark.parametrize("name", SERVICES)
def test_service_exposure_is_low(name: str, tmp_path: Path) -> None:
    units = _installable_copy(tmp_path)
    done = subprocess.run([SYSTEMD_ANALYZE or "", "security", "--offline=true", "--no-pager",
                           f"--threshold={MAX_EXPOSURE}", str(units / _verifiable(name))],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", SERVICES)
def test_service_is_sandboxed_and_unprivileged(name: str) -> None:
    unit = read_unit(DEPLOY / name)
    for key, wanted in SANDBOX.items():
        assert unit.value("Service", key) == wanted, f"{name}: {key}={unit.value('Service', key)}"
    assert unit.values("Service", "SystemCallFilter")[0] == "@system-service"
    user = "mosquitto" if name == "telehub-broker.service" else "telehub"
    assert unit.value("Service", "User") == user
    # Nothing writable outside the broker's state directory.
    assert unit.value("Service", "ReadWritePaths") is None
    assert unit.value("Service", "StateDirectory") == (
        "mosquitto" if name == "telehub-broker.service" else None)


def test_hub_instances_share_readings_under_their_own_fixed_ids_and_always_restart() -> None:
    hub = read_unit(DEPLOY / "telehub-hub@.service")
    env = unit_environment(hub, instance="2")
    assert env["TELEHUB_INGEST__CLIENT_ID"] == "telehub-hub-2"
    assert env["TELEHUB_INGEST__SHARED"] == "true"
    assert hub.value("Service", "Restart") == "always"
    assert hub.value("Unit", "StartLimitIntervalSec") == "0"   # never gives up restarting
    assert hub.value("Install", "WantedBy") == "telehub.target"


def test_hubs_and_api_start_after_migrations_and_the_broker() -> None:
    for name in ("telehub-hub@.service", "telehub-api.service"):
        unit = read_unit(DEPLOY / name)
        after = " ".join(unit.values("Unit", "After")).split()
        for dependency in ("network-online.target", "postgresql.service",
                           "telehub-migrate.service", "telehub-broker.service"):
            assert dependency in after, f"{name} is not ordered after {dependency}"
        assert "telehub-migrate.service" in unit.value("Unit", "Requires").split()
    migrate = read_unit(DEPLOY / "telehub-migrate.service")
    assert migrate.value("Service", "Type") == "oneshot"
    assert migrate.value("Service", "RemainAfterExit") == "yes"
    target = read_unit(DEPLOY / "telehub.target")
    wanted = target.value("Unit", "Wants").split()
    assert set(wanted) == {n for n in SERVICES if "@" not in n}
    for name in SERVICES:
        unit = read_unit(DEPLOY / name)
        assert unit.value("Unit", "PartOf") == "telehub.target", name
        assert unit.value("Install", "WantedBy") == "telehub.target", name


def test_shipped_units_run_the_installed_venv_and_debian_mosquitto() -> None:
    for name in SERVICES:
        program = exec_start(read_unit(DEPLOY / name))[0]
        wanted = SHIPPED_MOSQUITTO if name == "telehub-broker.service" else SHIPPED_TELEHUB
        assert program == wanted, name
    broker = exec_start(read_unit(DEPLOY / "telehub-broker.service"))
    assert broker[1:] == ["-c", "/etc/mosquitto/telehub/mosquitto.conf"]


@pytest.mark.parametrize("name", TELEHUB_SERVICES)
def test_exec_start_names_a_real_telehub_command(name: str) -> None:
    words = exec_start(read_unit(DEPLOY / name))
    command = [w for w in words[1:] if not w.startswith("-")]
    assert command, f"{name} runs telehub without a command"
    done = subprocess.run([TELEHUB, *command, "--help"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, f"telehub {' '.join(command)}: {done.stderr}"
    assert "Usage: telehub " + " ".join(command) in " ".join(done.stdout.split())


def test_the_command_check_refuses_an_unknown_command() -> None:
    done = subprocess.run([TELEHUB, "hubb", "--help"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode != 0


def _variables_set() -> dict[str, dict[str, str]]:
    """Every TELEHUB_* variable the shipped files set, by the file that sets it."""
    found = {path.name: read_env_file(path) for path in env_file_paths()}
    for path in unit_paths():
        found[path.name] = unit_environment(read_unit(path))
    return {name: {k: v for k, v in pairs.items() if k.startswith("TELEHUB_")}
            for name, pairs in found.items()}


def test_every_telehub_variable_set_is_a_real_setting() -> None:
    known = setting_env_names() | cli_env_names(app)
    for where, pairs in _variables_set().items():
        unknown = sorted(set(pairs) - known)
        assert not unknown, f"{where} sets {unknown}, which no setting reads"


def test_the_name_check_refuses_a_misspelt_setting() -> None:
    known = setting_env_names() | cli_env_names(app)
    assert "TELEHUB_INGEST__CLIENT_ID" in known and "TELEHUB_LOG_LEVEL" in known
    assert "TELEHUB_INGEST__CLIENTID" not in known
    assert "TELEHUB_API_HOST" not in known          # the section needs its double underscore


def test_the_variables_build_valid_settings(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("TELEHUB_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)                     # no telehub.toml here
    merged: dict[str, str] = {}
    for pairs in _variables_set().values():
        merged.update(pairs)
    for name, value in merged.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.ingest.shared is True
    assert settings.ingest.client_id.startswith("telehub-hub-")
    assert settings.api.host == "127.0.0.1" and settings.dashboard_host == "127.0.0.1"
    assert settings.api.trusted_proxies == ["127.0.0.1"]


def _secret_env_names() -> set[str]:
    names = {"TELEHUB_DATABASE_URL", "TELEHUB_MQTT_URL"}     # URLs carry the passwords
    for section in ("ingest", "alerts", "api"):
        model = Settings.model_fields[section].annotation
        assert model is not None
        for field, info in model.model_fields.items():  # type: ignore[attr-defined]
            if SecretStr in getattr(info.annotation, "__args__", (info.annotation,)):
                names.add(f"TELEHUB_{section}__{field}".upper())
    return names


def test_no_secret_is_set_in_an_environment_file_or_unit() -> None:
    secrets = _secret_env_names()
    assert "TELEHUB_ALERTS__WEBHOOK_SECRET" in secrets
    for where, pairs in _variables_set().items():
        assert not secrets & set(pairs), f"{where} sets a secret: {sorted(secrets & set(pairs))}"
    for path in [*unit_paths(), *env_file_paths()]:
        assert not re.search(r"://[^/\s]*@", path.read_text()), \
            f"{path.name} holds a URL with credentials (they belong in the toml credentials)"


@pytest.mark.parametrize("example", sorted(p.name for p in DEPLOY.glob("*.toml.example")))
def test_credential_file_holds_only_settings_and_is_read_from_the_working_directory(
        example: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    text = (DEPLOY / example).read_text()
    data = tomllib.loads(text)

    def keys(table: dict[str, object], prefix: str = "") -> set[str]:
        out = set()
        for key, value in table.items():
            out.add(prefix + key)
            if isinstance(value, dict):
                out |= keys(value, f"{prefix}{key}.")
        return out

    unknown = sorted(keys(data) - setting_keys())
    assert not unknown, f"{example} holds {unknown}, which no setting reads"
    # WorkingDirectory=%d: the settings read telehub.toml from the credentials directory.
    for name in list(os.environ):
        if name.startswith("TELEHUB_"):
            monkeypatch.delenv(name)
    (tmp_path / "telehub.toml").write_text(text)
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.database_url == data["database_url"]
    assert settings.mqtt_url == data.get("mqtt_url")


@pytest.mark.parametrize("name", TELEHUB_SERVICES)
def test_services_needing_secrets_load_them_as_a_credential_in_their_working_directory(
        name: str) -> None:
    unit = read_unit(DEPLOY / name)
    credential = unit.value("Service", "LoadCredential")
    if name == "telehub-dashboard.service":
        assert credential is None                # it talks only to the API
        return
    assert credential is not None
    local, _, source = credential.partition(":")
    assert local == "telehub.toml"
    assert (DEPLOY / (Path(source).name + ".example")).is_file(), source
    assert unit.value("Service", "WorkingDirectory") == "%d"
    assert unit.values("Service", "EnvironmentFile")[0] == "/etc/telehub/telehub.env"
