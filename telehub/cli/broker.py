"""`telehub broker config`: write a trust's Mosquitto configuration from the database.

The configuration itself (hashes, ACLs, dynamic security, TLS listeners) is built by
`telehub.broker.config`; this module reads the service users' secrets and the devices'
credentials and writes the files.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer

from telehub.broker.access import Role, ServiceUser, device_credentials
from telehub.broker.config import AUTOSAVE_CHANGES, BrokerConfig, TlsFiles, write_broker_files
from telehub.errors import ConfigError


def _read_secret(path: Path, what: str) -> str:
    """The first line of a secret file (a password or a `$7$` hash)."""
    try:
        text = path.read_text().strip()
    except OSError as err:
        raise ConfigError(f"cannot read the {what} from {path}: {err.strerror}") from err
    if not text:
        raise ConfigError(f"the {what} file {path} is empty.")
    return text.splitlines()[0]


def hub_user_from(name: str | None, password_file: Path | None, mqtt_url: str | None
                  ) -> ServiceUser:
    """The hub's broker user: from a password file, else from TELEHUB_MQTT_URL's credentials."""
    if password_file is not None:
        secret = _read_secret(password_file, "hub password")
        if name is None and mqtt_url:
            from telehub.config import parse_mqtt_url

            name = parse_mqtt_url(mqtt_url).username
        return ServiceUser.from_secret(name or "telehub-hub", "hub", secret)
    if mqtt_url:
        from telehub.config import parse_mqtt_url

        endpoint = parse_mqtt_url(mqtt_url)
        if endpoint.username and endpoint.password:
            return ServiceUser.from_secret(name or endpoint.username, "hub",
                                           endpoint.password.get_secret_value())
    raise ConfigError("no hub credentials: give --hub-password-file "
                      "(or TELEHUB_BROKER_HUB_PASSWORD_FILE), or put the hub's username "
                      "and password in TELEHUB_MQTT_URL.")


def service_users(specs: Iterable[str], role: Role) -> list[ServiceUser]:
    """Users of one role from `NAME=PASSWORD_FILE` specs (--reader, --gateway)."""
    users = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise ConfigError(f"--{role} wants NAME=PASSWORD_FILE, not '{spec}'.")
        secret = _read_secret(Path(path), f"password of '{name}'")
        users.append(ServiceUser.from_secret(name, role, secret))
    return users


def register(app: typer.Typer) -> None:
    """Add `telehub broker …` to the `telehub` command."""
    broker_app = typer.Typer(help="The MQTT broker's deployment configuration.",
                             no_args_is_help=True)
    broker_app.command("config")(config_command)
    app.add_typer(broker_app, name="broker")


def config_command(
    out: Annotated[Path, typer.Option(help="Directory for mosquitto.conf, acl and passwd.")],
    hub_user: Annotated[str | None, typer.Option(
        envvar="TELEHUB_BROKER_HUB_USER", help="The hub's broker username.")] = None,
    hub_password_file: Annotated[Path | None, typer.Option(
        envvar="TELEHUB_BROKER_HUB_PASSWORD_FILE",
        help="File holding the hub's password (or its $7$ hash). Default: TELEHUB_MQTT_URL.",
    )] = None,
    reader: Annotated[list[str] | None, typer.Option(
        help="NAME=PASSWORD_FILE: a responder or integration user that reads alerts.")] = None,
    gateway: Annotated[list[str] | None, typer.Option(
        help="NAME=PASSWORD_FILE: the API's HTTP gateway, which may publish devices' "
             "readings (and nothing else).")] = None,
    port: Annotated[int, typer.Option(help="Plain MQTT listener port.")] = 1883,
    plain: Annotated[bool, typer.Option(
        "--plain/--no-plain", help="Keep a plain listener (e.g. the hub on localhost).")] = True,
    bind: Annotated[str | None, typer.Option(help="Address to listen on (default: all).")] = None,
    tls_port: Annotated[int, typer.Option(help="TLS listener port.")] = 8883,
    cafile: Annotated[Path | None, typer.Option(help="TLS: CA bundle (PEM).")] = None,
    certfile: Annotated[Path | None, typer.Option(help="TLS: server certificate (PEM).")] = None,
    keyfile: Annotated[Path | None, typer.Option(help="TLS: server private key (PEM).")] = None,
    data_dir: Annotated[Path | None, typer.Option(
        help="Persistence directory (default OUT/data).")] = None,
    run_as: Annotated[str | None, typer.Option(
        help="User mosquitto switches to when started as root.")] = None,
    log_file: Annotated[Path | None, typer.Option(
        help="Broker log file (default: stderr).")] = None,
    devices: Annotated[bool, typer.Option(
        "--devices/--no-devices",
        help="Add every active device's credentials from the database.")] = True,
    auth: Annotated[str, typer.Option(
        help="dynsec: Mosquitto's dynamic-security plugin, which also refuses subscriptions "
             "(recommended). files: password_file + acl_file, which Mosquitto 2.0 checks only "
             "on publish and delivery, so a device can still join the hub's shared "
             "subscription and swallow other devices' readings; use it only with a "
             "non-shared hub subscription.")] = "dynsec",
    dynsec_plugin: Annotated[Path | None, typer.Option(
        help="Path of mosquitto_dynamic_security.so (default: the usual places).")] = None,
    autosave_changes: Annotated[int, typer.Option(
        min=0, help="Save the broker's state after this many changes: a crash loses fewer "
                    "acknowledged readings than this (0: save every 30 s instead, a window "
                    "of up to 30 s of readings). See deploy/mosquitto/README.md for the "
                    "measured cost.")] = AUTOSAVE_CHANGES or 0,
) -> None:
    """Write mosquitto.conf, acl and passwd for a deployment (no anonymous access, TLS optional)."""
    from telehub.config import get_settings
    from telehub.db.pool import connect

    settings = get_settings()
    tls_parts = (cafile, certfile, keyfile)
    if any(tls_parts) and not all(tls_parts):
        raise ConfigError("TLS needs all three of --cafile, --certfile and --keyfile.")
    tls = TlsFiles(*(p.resolve() for p in tls_parts if p)) if all(tls_parts) else None
    services = [hub_user_from(hub_user, hub_password_file, settings.mqtt_url),
                *service_users(reader or [], "reader"),
                *service_users(gateway or [], "gateway")]
    if auth not in ("dynsec", "files"):
        raise ConfigError(f"--auth is dynsec or files, not '{auth}'.")
    cfg = BrokerConfig(out_dir=out.resolve(), auth="files" if auth == "files" else "dynsec",
                       dynsec_plugin=dynsec_plugin, port=port if plain else None, bind=bind,
                       tls=tls,
                       tls_port=tls_port, data_dir=data_dir.resolve() if data_dir else None,
                       run_as=run_as, topic_root=settings.topic_root,
                       log_file=log_file.resolve() if log_file else None,
                       autosave_changes=autosave_changes or None)
    device_entries: list[tuple[str, str]] = []
    if devices:
        with connect(settings.require_database_url()) as conn:
            device_entries, skipped = device_credentials(conn)
        if skipped:
            typer.secho(f"skipped {len(skipped)} device(s) whose credential is not a $7$ hash "
                        f"(issue new credentials): {', '.join(skipped)}", err=True,
                        fg=typer.colors.YELLOW)
    written = write_broker_files(cfg, device_entries, services)
    typer.echo(f"wrote {', '.join(str(p) for p in written.paths)} "
               f"({written.devices} device(s), {written.services} service user(s))")
