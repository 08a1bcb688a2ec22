"""Two hub processes sharing the readings subscription; one is killed mid-stream.

What Mosquitto 2.0 does (and this test measures): the killed hub's persistent session
stays a member of the share group, so the broker keeps handing it its share of new
readings, queued, until it reconnects under the same worker id; the survivor carries on
with its own share only. Nothing is lost as long as the killed worker is restarted with
its id (a supervisor's job: systemd `Restart=always`, a StatefulSet); if it never came
back, its queue would be dropped when the session expires.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.reliability.harness import (
    Device,
    Fleet,
    Hub,
    ShippedBroker,
    count,
    duplicated,
    publish_all,
    settle,
    stored,
    wait_for,
    wait_hub_online,
)

pytestmark = pytest.mark.slow


def test_one_of_two_shared_hubs_killed_the_other_carries_on_and_nothing_is_lost(
        shipped_broker: ShippedBroker, devices: list[Device], make_hub: Callable[..., Hub],
        db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    hub_a = make_hub(db_url, shipped_broker.hub_url, "hub-shared-a", shared=True)
    hub_b = make_hub(db_url, shipped_broker.hub_url, "hub-shared-b", shared=True)
    wait_hub_online(shipped_broker, "hub-shared-a")
    wait_hub_online(shipped_broker, "hub-shared-b")
    per_device = 300
    total = per_device * len(devices)
    # 20 devices at 20 readings/s each: a 15-second stream.
    stream = threading.Thread(target=publish_all, args=(devices, per_device),
                              kwargs={"rate_per_device": 20})
    stream.start()
    wait_for(lambda: stored(db_url) > total // 5, what="the stream to be under way")
    a_stored = hub_a.metrics().get("telehub_ingest_readings_stored_total", 0)
    hub_a.kill()
    killed_at = stored(db_url)
    stream.join(60)
    b_before = hub_b.metrics().get("telehub_ingest_readings_stored_total", 0)
    with_survivor_only = settle(db_url, quiet_s=4.0, timeout=60.0)
    b_after = hub_b.metrics().get("telehub_ingest_readings_stored_total", 0)
    waiting_for_a = total - with_survivor_only
    hub_a.start()  # same worker id: its session, and what the broker kept for it, come back
    wait_for(lambda: stored(db_url) == total, timeout=60,
             what=f"all {total} readings once the killed hub is back")
    time.sleep(1.0)
    with capsys.disabled():
        print(f"\nshared hubs, one killed: published {sum(d.acked for d in devices)}, stored "
              f"{stored(db_url)}, duplicated {duplicated(db_url)}; hub A had stored "
              f"{a_stored:.0f} when killed (total then {killed_at}); the survivor alone "
              f"brought the total to {with_survivor_only} ({waiting_for_a} waited in the killed "
              f"hub's session until it came back)")
    assert hub_b.proc is not None and hub_b.proc.poll() is None, "the survivor died"
    assert with_survivor_only > killed_at, "the survivor stopped storing"
    assert b_after >= b_before
    assert sum(d.acked for d in devices) == total
    assert stored(db_url) == total and duplicated(db_url) == 0


def test_the_scheduler_keeps_running_on_the_survivor(
        shipped_broker: ShippedBroker, fleet: tuple[Fleet, dict[str, str]],
        make_hub: Callable[..., Hub], db_url: str, conn: psycopg.Connection,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The scheduler's lock is taken per pass, so a killed hub cannot keep it: the survivor
    escalates an unacknowledged red alert on its own."""
    monkeypatch.setenv("TELEHUB_ALERTS__SCHEDULER_INTERVAL_S", "1")
    hub_a = make_hub(db_url, shipped_broker.hub_url, "hub-sched-a", shared=True)
    make_hub(db_url, shipped_broker.hub_url, "hub-sched-b", shared=True)
    wait_hub_online(shipped_broker, "hub-sched-a")
    wait_hub_online(shipped_broker, "hub-sched-b")
    hub_a.kill()
    patient = fleet[0].patient_ids[0]
    opened = datetime.now(UTC) - timedelta(minutes=30)    # past the team's 15-minute window
    row = conn.execute(
        "INSERT INTO alerts (patient_id, team_id, rule_id, severity, message, metric, "
        "first_breach_at, last_breach_at, created_at) "
        "SELECT id, team_id, 'spo2-low', 'red', 'SpO2 88 %% is at or below 91 %%.', 'spo2', "
        "%s, %s, %s FROM patients WHERE id = %s RETURNING id",
        (opened, opened, opened, patient)).fetchone()
    conn.commit()
    assert row is not None
    alert_id = row["id"]

    def escalated() -> bool:
        return count(db_url, "SELECT count(*) FROM alerts WHERE id = %s AND escalated",
                     (alert_id,)) == 1

    wait_for(escalated, timeout=30, what="the surviving hub's scheduler to escalate the alert")
    assert count(db_url, "SELECT count(*) FROM alert_events WHERE alert_id = %s "
                         "AND kind = 'escalated'", (alert_id,)) == 1
