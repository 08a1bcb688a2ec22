"""The one MQTT connection class: refused credentials stop every user for good; a reconnect
resubscribes. Against a real Mosquitto with a password file, started by the test."""

from __future__ import annotations

import logging
import os
import pwd
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from alerts.notifier import Notifier
from api.publisher import PublishError, ReadingsPublisher
from ingest.consumer import Consumer
from ingest.counters import IngestStats
from ingest.work_queue import WorkQueue
from telehub.broker.config import start_mosquitto_with
from telehub.broker.passwords import hash_mosquitto_password, write_password_file
from telehub.config import Settings, parse_mqtt_url
from telehub.db.pool import open_pool
from telehub.demo.embedded import free_port, mosquitto_binary, stop_process
from telehub.mqtt.connection import MqttConnection, is_final_refusal, refusal_number

pytestmark = pytest.mark.skipif(mosquitto_binary() is None, reason="needs mosquitto")

# Longer than paho's first reconnect delay (1 s) twice over: a retry would show in the log.
RETRY_WATCH_S = 2.5


@dataclass(frozen=True)
class PasswordBroker:
    """A mosquitto that only lets `hub` in, with password `right-secret`."""

    port: int
    log: Path

    def url(self, password: str) -> str:
        return f"mqtt://hub:{password}@127.0.0.1:{self.port}"

    def refusals(self) -> int:
        """How many times a client was refused so far (mosquitto logs each one)."""
        return self.log.read_text(errors="replace").count("not authorised")


@pytest.fixture
def password_broker(tmp_path: Path) -> Iterator[PasswordBroker]:
    port = free_port()
    passwords = tmp_path / "passwords"
    write_password_file([("hub", hash_mosquitto_password("right-secret", iterations=1000))],
                        passwords)
    conf = tmp_path / "mosquitto.conf"
    events = tmp_path / "events.log"   # a log file mosquitto flushes line by line
    # Run as ourselves: as root, mosquitto would drop to a user who cannot read the file.
    me = pwd.getpwuid(os.geteuid()).pw_name
    conf.write_text(f"user {me}\nlistener {port} 127.0.0.1\nallow_anonymous false\n"
                    f"password_file {passwords}\nlog_dest file {events}\n"
                    "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n")
    log = tmp_path / "mosquitto.log"
    proc = start_mosquitto_with(conf, [port], log=log)
    yield PasswordBroker(port, events)
    stop_process(proc)


@pytest.mark.parametrize(("code", "final"), [
    (0x86, True), (0x87, True), (0x85, True), (0x8C, True), (0x8A, True),
    (4, True), (5, True), (2, True),          # MQTT 3.1.1 return codes
    (0x88, False), (0x89, False), (0x80, False), (3, False),
])
def test_refused_connack_codes_are_recognised_by_number(code: int, final: bool) -> None:
    assert is_final_refusal(code) is final


def test_a_reason_code_counts_by_its_number_not_its_wording() -> None:
    reason = ReasonCode(PacketTypes.CONNACK, identifier=0x87)
    assert refusal_number(reason) == 0x87 and is_final_refusal(reason)
    assert not is_final_refusal(ReasonCode(PacketTypes.CONNACK, identifier=0x88))


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def _assert_stopped_for_good(broker: PasswordBroker, caplog: pytest.LogCaptureFixture) -> None:
    time.sleep(RETRY_WATCH_S)
    assert broker.refusals() == 1, "the client tried again after a final refusal"
    refusals = [m for m in _errors(caplog) if "refused" in m]
    assert len(refusals) == 1, refusals
    assert "wrong-secret" not in caplog.text


def test_hub_consumer_stops_for_good_on_a_wrong_password(
        settings: Settings, password_broker: PasswordBroker,
        caplog: pytest.LogCaptureFixture) -> None:
    wrong = settings.model_copy(update={"mqtt_url": password_broker.url("wrong-secret")})
    consumer = Consumer(wrong, WorkQueue(), IngestStats())
    consumer.start()
    try:
        assert consumer.failed.wait(10)
        assert not consumer.connected.is_set()
        _assert_stopped_for_good(password_broker, caplog)
    finally:
        consumer.stop()


def test_notifier_stops_for_good_on_a_wrong_password(
        settings: Settings, password_broker: PasswordBroker,
        caplog: pytest.LogCaptureFixture) -> None:
    wrong = settings.model_copy(update={"mqtt_url": password_broker.url("wrong-secret")})
    pool = open_pool(wrong.require_database_url(), max_size=2, timeout=5.0)
    notifier = Notifier(wrong, pool)
    notifier.start()
    try:
        started = time.monotonic()
        assert not notifier.wait_connected(10)
        assert time.monotonic() - started < 5, "waited out the timeout instead of stopping"
        assert notifier.failed
        _assert_stopped_for_good(password_broker, caplog)
    finally:
        notifier.stop()
        pool.close()


def test_api_publisher_stops_for_good_on_a_wrong_password(
        settings: Settings, password_broker: PasswordBroker,
        caplog: pytest.LogCaptureFixture) -> None:
    wrong = settings.model_copy(update={"mqtt_url": password_broker.url("wrong-secret")})
    publisher = ReadingsPublisher(wrong)
    try:
        with pytest.raises(PublishError, match="refused"):
            publisher.publish("telehub/v1/devices/ox-1/readings", b"{}")
        started = time.monotonic()
        with pytest.raises(PublishError, match="refused"):
            publisher.publish("telehub/v1/devices/ox-1/readings", b"{}")
        assert time.monotonic() - started < 0.5
        _assert_stopped_for_good(password_broker, caplog)
    finally:
        publisher.close()


def test_the_right_password_connects(settings: Settings,
                                     password_broker: PasswordBroker) -> None:
    publisher = ReadingsPublisher(settings.model_copy(
        update={"mqtt_url": password_broker.url("right-secret")}))
    try:
        publisher.publish("telehub/v1/devices/ox-1/readings", b"{}")
    finally:
        publisher.close()


def test_a_reconnect_resubscribes(password_broker: PasswordBroker) -> None:
    endpoint = parse_mqtt_url(password_broker.url("right-secret"))
    got: queue.Queue[bytes] = queue.Queue()
    ready_count = 0
    readied = threading.Event()

    def on_ready(session_present: bool) -> None:
        nonlocal ready_count
        ready_count += 1
        readied.set()

    # No persistent session: after the reconnect only a new SUBSCRIBE brings messages.
    listener = MqttConnection(endpoint, "resubscriber", name="test listener")
    listener.subscribe("resubscribe/test")
    listener.on_message = lambda m: got.put(bytes(m.payload))
    listener.on_ready = on_ready
    listener.start()
    try:
        assert listener.wait_ready(10)
        readied.clear()
        # Another connection under the same client id takes the session over: the broker
        # drops the listener, which reconnects (paho's backoff) and must subscribe again.
        thief = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="resubscriber",
                            protocol=mqtt.MQTTv5)
        thief.username_pw_set("hub", "right-secret")
        thief.connect("127.0.0.1", password_broker.port, clean_start=True)
        thief.loop_start()
        time.sleep(0.3)
        thief.disconnect()
        thief.loop_stop()
        assert readied.wait(15), "the listener did not come back"
        assert ready_count == 2
        sender = MqttConnection(endpoint, name="test sender")
        sender.start()
        assert sender.wait_ready(10)
        sender.publish("resubscribe/test", b"after").wait_for_publish(5)
        sender.stop()
        assert got.get(timeout=5) == b"after"
    finally:
        listener.stop()
