"""The broker under stress, on the shipped configuration: a restart mid-stream, and a burst.

Counts are published (PUBACKed by the broker to a device) against stored (rows in
`readings`) and duplicated (rows sharing an identity; the hub's own count of
redelivered readings it recognised is reported alongside).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from telehub.broker.config import AUTOSAVE_CHANGES
from tests.reliability.harness import (
    Device,
    Fleet,
    Hub,
    RawDevice,
    ShippedBroker,
    duplicated,
    publish_all,
    settle,
    stored,
    wait_for,
    wait_hub_online,
)

pytestmark = pytest.mark.slow


def test_broker_restarted_mid_stream_every_reading_arrives_once(
        shipped_broker: ShippedBroker, devices: list[Device], make_hub: Callable[..., Hub],
        db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    hub = make_hub(db_url, shipped_broker.hub_url, "hub-restart")
    wait_hub_online(shipped_broker, "hub-restart")
    per_device = 150
    total = per_device * len(devices)
    # 20 devices at 50 readings/s each: a 3-second stream with the broker gone for part of it.
    stream = threading.Thread(target=publish_all, args=(devices, per_device),
                              kwargs={"rate_per_device": 50})
    stream.start()
    wait_for(lambda: stored(db_url) > total // 5, what="the stream to be under way")
    shipped_broker.stop()
    stored_when_stopped = stored(db_url)
    time.sleep(2.0)
    shipped_broker.start()
    stream.join(60)
    wait_for(lambda: stored(db_url) == total, timeout=60,
             what=f"all {total} readings after the restart")
    time.sleep(1.0)  # late redeliveries must add nothing
    published = sum(d.acked for d in devices)
    metrics = hub.metrics()
    with capsys.disabled():
        print(f"\nbroker restart: published {published}, stored {stored(db_url)}, "
              f"duplicated {duplicated(db_url)}, redeliveries recognised by the hub "
              f"{metrics.get('telehub_ingest_readings_duplicate_total', 0):.0f}, "
              f"stored before the stop {stored_when_stopped}")
    assert published == total and sum(d.refused for d in devices) == 0
    assert stored(db_url) == total and duplicated(db_url) == 0
    assert stored_when_stopped < total, "the broker stopped too late to prove anything"


def test_burst_of_20000_readings_in_under_5_s_loses_nothing(
        shipped_broker: ShippedBroker, fleet: tuple[Fleet, dict[str, str]],
        make_hub: Callable[..., Hub], db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    hub = make_hub(db_url, shipped_broker.hub_url, "hub-burst")
    wait_hub_online(shipped_broker, "hub-burst")
    devices = [RawDevice(d, fleet[1][d], shipped_broker.port) for d in fleet[0].devices]
    per_device = 20_000 // len(devices)
    total = per_device * len(devices)
    start = datetime.now(UTC) - timedelta(hours=6)
    packets = [d.encode(per_device, start) for d in devices]
    try:
        began = time.perf_counter()
        senders = [threading.Thread(target=d.send, args=(p,)) for d, p in zip(devices, packets,
                                                                              strict=True)]
        for t in senders:
            t.start()
        for t in senders:
            t.join()
        wait_for(lambda: sum(d.acked for d in devices) == total, timeout=30,
                 what="the broker to acknowledge the burst")
        acked_in = time.perf_counter() - began
        try:
            wait_for(lambda: stored(db_url) == total, timeout=90, what=f"{total} readings stored")
        except AssertionError as err:
            raise AssertionError(f"{err}: stored {stored(db_url)}; hub counters "
                                 f"{hub.metrics()}; hub log: {hub.log.read_text()[-2000:]}"
                                 ) from err
        stored_in = time.perf_counter() - began
    finally:
        for d in devices:
            d.close()
    metrics = hub.metrics()
    with capsys.disabled():
        print(f"\nburst: {total} readings from {len(devices)} devices acknowledged by the "
              f"broker in {acked_in:.2f} s, all stored in {stored_in:.2f} s "
              f"({total / stored_in:,.0f} readings/s); duplicated {duplicated(db_url)}; "
              f"hub batches {metrics.get('telehub_ingest_batches_total', 0):.0f}")
    assert total == 20_000
    assert acked_in < 5.0, f"the burst took {acked_in:.2f} s to publish"
    assert stored(db_url) == total and duplicated(db_url) == 0


@pytest.mark.parametrize("broker_extra", [(), ("max_queued_messages 1000",)],
                         ids=["shipped", "stock-queue-limit"])
def test_burst_while_the_hub_is_down_waits_in_full_in_its_session(
        shipped_broker: ShippedBroker, fleet: tuple[Fleet, dict[str, str]],
        make_hub: Callable[..., Hub], db_url: str, broker_extra: tuple[str, ...],
        capsys: pytest.CaptureFixture[str]) -> None:
    hub = make_hub(db_url, shipped_broker.hub_url, "hub-away")
    wait_hub_online(shipped_broker, "hub-away")
    assert hub.stop() == 0      # a redeploy: its persistent session stays on the broker
    devices = [RawDevice(d, fleet[1][d], shipped_broker.port) for d in fleet[0].devices]
    per_device = 20_000 // len(devices)
    total = per_device * len(devices)
    start = datetime.now(UTC) - timedelta(hours=6)
    try:
        for d in devices:
            d.send(d.encode(per_device, start))
        wait_for(lambda: sum(d.acked for d in devices) == total, timeout=30,
                 what="the broker to acknowledge the burst")
    finally:
        for d in devices:
            d.close()
    hub.start()
    final = settle(db_url)
    label = "stock queue limit" if broker_extra else "shipped configuration"
    with capsys.disabled():
        print(f"\nburst while the hub was down ({label}): published {total}, stored {final}, "
              f"lost {total - final}")
    if broker_extra:   # the control: Mosquitto's stock limit drops all but 1,000 of them
        assert final <= 1_000
    else:
        assert final == total and duplicated(db_url) == 0


def test_broker_crash_loses_fewer_readings_than_its_save_interval(
        shipped_broker: ShippedBroker, fleet: tuple[Fleet, dict[str, str]],
        make_hub: Callable[..., Hub], db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Mosquitto writes its state at each save: the shipped broker saves after every
    AUTOSAVE_CHANGES changes, so a crash (SIGKILL, no final save) forgets fewer readings it
    had acknowledged than that (on a 30 s timer it forgot all 1,000: deploy/mosquitto)."""
    hub = make_hub(db_url, shipped_broker.hub_url, "hub-crash")
    wait_hub_online(shipped_broker, "hub-crash")
    assert hub.stop() == 0
    devices = [RawDevice(d, fleet[1][d], shipped_broker.port) for d in fleet[0].devices[:5]]
    start = datetime.now(UTC) - timedelta(hours=6)
    try:
        for d in devices:
            d.send(d.encode(200, start))
        wait_for(lambda: sum(d.acked for d in devices) == 1_000, timeout=30,
                 what="the broker to acknowledge 1,000 readings")
    finally:
        for d in devices:
            d.close()
    assert shipped_broker.proc is not None
    shipped_broker.proc.kill()           # a crash, not a stop: no final save
    shipped_broker.proc.wait(10)
    shipped_broker.start()
    hub.start()
    final = settle(db_url, quiet_s=3.0, timeout=15.0)
    with capsys.disabled():
        print(f"\nbroker crash (SIGKILL), saving every {AUTOSAVE_CHANGES} changes: "
              f"acknowledged 1000, stored {final}, lost {1000 - final}")
    assert AUTOSAVE_CHANGES is not None
    assert 1_000 - AUTOSAVE_CHANGES < final <= 1_000
    assert duplicated(db_url) == 0
