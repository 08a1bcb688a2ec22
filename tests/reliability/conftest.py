"""Fault-test fixtures: a fleet of registered devices with broker credentials, the shipped
broker started on it, its devices, and hub processes (tests/reliability/harness.py)."""

from __future__ import annotations

import os
import pwd
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import psycopg
import pytest

from telehub.broker.access import ServiceUser
from telehub.broker.config import (
    BrokerConfig,
    find_dynsec_plugin,
    write_broker_files,
)
from telehub.broker.passwords import hash_mosquitto_password
from telehub.care import registration as registry
from telehub.demo.embedded import free_port, mosquitto_binary
from telehub.domain.nhs_number import synthetic_nhs_numbers
from telehub.errors import ConfigError
from tests.log_guard import LogGuard
from tests.reliability.harness import (
    HUB_PASSWORD,
    HUB_USER,
    RESPONDER_PASSWORD,
    RESPONDER_USER,
    Device,
    Fleet,
    Hub,
    ShippedBroker,
    wait_for,
)


@pytest.fixture
def fleet_size() -> int:
    """How many devices the test's fleet has (override in a module to change it)."""
    return 20


@pytest.fixture
def fleet(conn: psycopg.Connection, log_guard: LogGuard, fleet_size: int
          ) -> tuple[Fleet, dict[str, str]]:
    """`fleet_size` patients with an oximeter each, whose `$7$` credentials are in the database."""
    numbers = synthetic_nhs_numbers(start=6611)
    log_guard.register("Rosamund", "Threlkeld")
    registry.add_team(conn, "fault-team", "Fault Team")
    passwords, patients = {}, []
    for n in range(fleet_size):
        pid = registry.add_patient(conn, nhs_number=next(numbers), given_name="Rosamund",
                                   family_name="Threlkeld", birth_date=date(1939, 9, 9),
                                   team="fault-team", conditions=["copd"])
        device_id = f"ox-r{n:03d}"
        registry.add_device(conn, device_id=device_id, kind="oximeter", patient=pid)
        passwords[device_id] = f"pw-{device_id}"
        conn.execute("UPDATE devices SET credential_hash = %s WHERE device_id = %s",
                     (hash_mosquitto_password(passwords[device_id]), device_id))
        patients.append(pid)
    conn.commit()
    return Fleet(tuple(patients), tuple(passwords)), passwords


@pytest.fixture
def broker_extra() -> tuple[str, ...]:
    """Lines appended to the shipped mosquitto.conf (a test parametrizes this to weaken it)."""
    return ()


@pytest.fixture
def shipped_broker(tmp_path: Path, conn: psycopg.Connection,
                   fleet: tuple[Fleet, dict[str, str]], broker_extra: tuple[str, ...]
                   ) -> Iterator[ShippedBroker]:
    """The shipped configuration, written from the database's devices, on a free port."""
    if mosquitto_binary() is None:
        pytest.skip("needs mosquitto")
    try:
        find_dynsec_plugin()
    except ConfigError:
        pytest.skip("needs Mosquitto's dynamic-security plugin")
    from telehub.broker.access import device_credentials

    devices, skipped = device_credentials(conn)
    assert not skipped and len(devices) == len(fleet[0].devices)
    out = tmp_path / "broker"
    port = free_port()
    cfg = BrokerConfig(out_dir=out, port=port, bind="127.0.0.1",
                       run_as=pwd.getpwuid(os.geteuid()).pw_name, log_file=out / "mosquitto.log",
                       extra=broker_extra)
    write_broker_files(cfg, devices, [
        ServiceUser.from_secret(HUB_USER, "hub", HUB_PASSWORD),
        ServiceUser.from_secret(RESPONDER_USER, "reader", RESPONDER_PASSWORD)])
    broker = ShippedBroker(out, port, fleet[1])
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def devices(shipped_broker: ShippedBroker, fleet: tuple[Fleet, dict[str, str]]
            ) -> Iterator[list[Device]]:
    """A connected client per device of the fleet."""
    clients = [Device(d, shipped_broker.passwords[d], shipped_broker.port)
               for d in fleet[0].devices]
    wait_for(lambda: all(c.client.is_connected() for c in clients), 10, "devices to connect")
    yield clients
    for c in clients:
        c.close()


@pytest.fixture
def make_hub(tmp_path: Path) -> Iterator[Callable[..., Hub]]:
    """make_hub(db_url, mqtt_url, client_id, shared=False) -> a started hub process."""
    hubs: list[Hub] = []

    def make(db_url: str, mqtt_url: str, client_id: str, *, shared: bool = False) -> Hub:
        port = free_port()
        env = dict(os.environ, TELEHUB_DATABASE_URL=db_url, TELEHUB_MQTT_URL=mqtt_url,
                   TELEHUB_TOPIC_ROOT="telehub/v1", TELEHUB_INGEST__CLIENT_ID=client_id,
                   TELEHUB_INGEST__METRICS_PORT=str(port),
                   TELEHUB_INGEST__SHARED="true" if shared else "false")
        hub = Hub(env, tmp_path / f"{client_id}.log", port).start()
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        hub.stop()
