"""Watch periods, reminders and the reminder setting over HTTP: who may watch, bounds, the
watch in the alert, its re-raise by a worse reading and its end in the inbox, audited."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from alerts.engine import evaluate
from alerts.scheduler import run_alert_timers
from telehub.domain.clock import FixedClock, service_zone, use_clock
from telehub.domain.readings import StoredReading
from telehub.domain.units import Metric, Unit
from tests.api.conftest import LiveApi
from tests.api.data import device_for
from tests.clock_anchors import ANCHORS

AT = ANCHORS[2]                    # 26 Nov 2026, 18:50 in London
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
REASON = "Known exacerbation, rescue pack started; recheck at 21:00"

Db = psycopg.Connection[Any]


@pytest.fixture
def service() -> Iterator[FixedClock]:
    with use_clock(FixedClock(AT)) as c:
        assert isinstance(c, FixedClock)
        yield c


def _feed(conn: Db, pid: int, value: float, at: datetime) -> None:
    """Store an SpO2 reading and evaluate it, as one ingest batch does; commit."""
    device = device_for(conn, pid, "spo2")
    row = conn.execute(
        "INSERT INTO readings (time, patient_id, device_id, metric, value, unit, raw_value, "
        "raw_unit, reading_key) VALUES (%s, %s, %s, 'spo2', %s, '%%', %s, '%%', %s) "
        "RETURNING received_at", (at, pid, device, value, value, at.isoformat())).fetchone()
    assert row is not None
    evaluate(conn, [StoredReading(time=at, patient_id=pid, device_id=device, metric=Metric.SPO2,
                                  value=value, unit=Unit.PERCENT, raw_value=value,
                                  raw_unit=Unit.PERCENT, received_at=row["received_at"],
                                  reading_key=at.isoformat())],
             now=at)
    conn.commit()


def _bob_alert(live_api: LiveApi, conn: Db, value: float = 93) -> int:
    bob = live_api.world.patients["bob"]
    _feed(conn, bob, value, AT)
    row = conn.execute("SELECT id FROM alerts WHERE patient_id = %s", (bob,)).fetchone()
    assert row is not None
    return int(row["id"])


def test_a_nurse_watches_a_reviewed_alert_within_bounds_audited(
        live_api: LiveApi, conn: Db, service: FixedClock) -> None:
    alert_id = _bob_alert(live_api, conn)
    until = (AT + 2 * HOUR).isoformat()
    with live_api.client("nurse") as c:
        early = c.post(f"/alerts/{alert_id}/watch", json={"until": until, "reason": REASON})
        assert c.post(f"/alerts/{alert_id}/acknowledge", json={}).status_code == 200
        too_long = c.post(f"/alerts/{alert_id}/watch", json={
            "until": (AT + timedelta(days=15)).isoformat(), "reason": REASON})
        no_zone = c.post(f"/alerts/{alert_id}/watch", json={
            "until": "2026-11-26T21:00:00", "reason": REASON})
        no_reason = c.post(f"/alerts/{alert_id}/watch", json={"until": until, "reason": ""})
        ok = c.post(f"/alerts/{alert_id}/watch", json={"until": until, "reason": REASON})
        events = c.get(f"/alerts/{alert_id}/events").json()
    with live_api.client("south-nurse") as c:
        hidden = c.post(f"/alerts/{alert_id}/watch", json={"until": until, "reason": REASON})
    with live_api.client("manager") as c:
        manager = c.post(f"/alerts/{alert_id}/watch", json={"until": until, "reason": REASON})
    with live_api.client("responder") as c:
        # A watch holds clinical escalation: a clinician's decision, not a responder's.
        responder = c.post(f"/alerts/{alert_id}/watch", json={"until": until, "reason": REASON})
        responder_stop = c.delete(f"/alerts/{alert_id}/watch")
    assert responder.status_code == 403 and responder_stop.status_code == 403
    assert early.status_code == 409 and "Acknowledge" in early.json()["detail"]
    assert too_long.status_code == 422 and too_long.json()["code"] == "bad-watch"
    assert no_zone.status_code == 422 and no_reason.status_code == 422
    assert hidden.status_code == 404 and manager.status_code == 403
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["status"] == "acknowledged" and body["watch_reason"] == REASON
    assert datetime.fromisoformat(body["watch_until"]) == AT + 2 * HOUR
    assert body["watch"] == {"occurrences": 0, "worst": None}
    assert body["watch_by"] == live_api.world.staff["nurse"]
    started = events[-1]
    assert (started["kind"], started["actor"], started["note"]) == ("watch-started", "nurse",
                                                                    REASON)
    audit = conn.execute("SELECT staff_id, detail FROM audit_log WHERE action = 'watch'"
                         ).fetchall()
    assert audit == [{"staff_id": live_api.world.staff["nurse"],
                      "detail": {"alert_id": alert_id, "until": until}}]


def test_a_watched_alert_is_re_raised_by_a_worse_reading(
        live_api: LiveApi, conn: Db, service: FixedClock) -> None:
    alert_id = _bob_alert(live_api, conn)
    with live_api.client("nurse") as c:
        c.post(f"/alerts/{alert_id}/acknowledge", json={})
        c.post(f"/alerts/{alert_id}/watch", json={"until": (AT + 4 * HOUR).isoformat(),
                                                  "reason": REASON})
        bob = live_api.world.patients["bob"]
        _feed(conn, bob, 92, AT + 30 * MIN)
        during = c.get(f"/alerts/{alert_id}").json()
        _feed(conn, bob, 87, AT + HOUR)
        after = c.get(f"/alerts/{alert_id}").json()
        inbox = c.get("/alerts", params={"status": "open"}).json()
    assert during["status"] == "acknowledged" and during["watch"]["occurrences"] == 1
    assert during["watch"]["worst"]["value"] == 92
    assert (after["status"], after["severity"], after["watch_until"]) == ("open", "red", None)
    assert after["last_watch"]["how"] == "higher-severity"
    assert after["last_watch"]["occurrences"] == 2
    assert after["last_watch"]["worst"]["value"] == 87
    assert after["last_watch"]["reason"] == REASON
    kinds = [e["kind"] for e in after["events"]]
    assert kinds[-2:] == ["severity-raised", "re-raised"]
    assert after["events"][-1]["note"].startswith("Re-raised during watch: severity amber → red")
    assert [a["id"] for a in inbox["items"]] == [alert_id]
    events = [r["payload"]["event"] for r in conn.execute(
        "SELECT payload FROM outbox WHERE alert_id = %s ORDER BY id", (alert_id,))]
    assert events == ["opened", "re-raised"]


def test_the_end_of_a_watch_returns_the_alert_with_what_happened_meanwhile(
        live_api: LiveApi, conn: Db, service: FixedClock) -> None:
    alert_id = _bob_alert(live_api, conn, 88)
    end = AT + 2 * HOUR
    with live_api.client("nurse") as c:
        c.post(f"/alerts/{alert_id}/acknowledge", json={})
        c.post(f"/alerts/{alert_id}/watch", json={"until": end.isoformat(), "reason": REASON})
        _feed(conn, live_api.world.patients["bob"], 89, AT + HOUR)
        assert run_alert_timers(conn, end - MIN, service_zone())["watches_ended"] == 0
        assert run_alert_timers(conn, end, service_zone())["watches_ended"] == 1
        conn.commit()
        back = c.get(f"/alerts/{alert_id}").json()
    assert back["status"] == "open" and back["watch_until"] is None and back["watch"] is None
    done = back["last_watch"]
    assert (done["how"], done["occurrences"], done["worst"]["value"]) == ("ended", 1, 89)
    assert datetime.fromisoformat(done["ended_at"]) == end
    ended = back["events"][-1]
    assert ended["kind"] == "watch-ended" and ended["actor"] == "system"
    assert ended["note"].startswith("Watch ended. 1 reading breached the rule meanwhile")


def test_stopping_a_watch_early(live_api: LiveApi, conn: Db,
                                service: FixedClock) -> None:
    alert_id = _bob_alert(live_api, conn)
    with live_api.client("nurse") as c:
        c.post(f"/alerts/{alert_id}/acknowledge", json={})
        c.post(f"/alerts/{alert_id}/watch", json={"until": (AT + HOUR).isoformat(),
                                                  "reason": REASON})
        stopped = c.delete(f"/alerts/{alert_id}/watch")
        again = c.delete(f"/alerts/{alert_id}/watch")
    assert stopped.status_code == 200 and stopped.json()["status"] == "open"
    assert stopped.json()["last_watch"]["how"] == "stopped"
    assert again.status_code == 409


def test_the_teams_reminder_setting(live_api: LiveApi, conn: Db) -> None:
    north, south = live_api.world.teams["north"], live_api.world.teams["south"]
    with live_api.client("nurse") as c:
        default = c.get(f"/teams/{north}/reminders").json()
        nurse_put = c.put(f"/teams/{north}/reminders", json={"red_reminder_minutes": 15})
    with live_api.client("matron") as c:
        too_often = c.put(f"/teams/{north}/reminders", json={"red_reminder_minutes": 2})
        other_team = c.put(f"/teams/{south}/reminders", json={"red_reminder_minutes": 15})
        fifteen = c.put(f"/teams/{north}/reminders", json={"red_reminder_minutes": 15})
        off = c.put(f"/teams/{north}/reminders", json={"red_reminder_minutes": None})
    assert default == {"team_id": north, "red_reminder_minutes": 30}
    assert nurse_put.status_code == 403 and too_often.status_code == 422
    assert other_team.status_code == 404
    assert fifteen.json()["red_reminder_minutes"] == 15
    assert off.json() == {"team_id": north, "red_reminder_minutes": None}
    assert [r["detail"]["red_reminder_minutes"] for r in conn.execute(
        "SELECT detail FROM audit_log WHERE resource = 'team-reminders' ORDER BY id")] == [
        15, None]


def test_a_reminder_shows_in_the_alerts_history(live_api: LiveApi, conn: Db,
                                                service: FixedClock) -> None:
    alert_id = _bob_alert(live_api, conn, 88)
    with live_api.client("matron") as c:
        c.put(f"/teams/{live_api.world.teams['north']}/reminders",
              json={"red_reminder_minutes": 10})
        assert run_alert_timers(conn, AT + 10 * MIN - timedelta(seconds=1),
                                service_zone())["reminders"] == 0
        assert run_alert_timers(conn, AT + 10 * MIN, service_zone())["reminders"] == 1
        conn.commit()
        events = c.get(f"/alerts/{alert_id}/events").json()
        detail = c.get(f"/alerts/{alert_id}").json()
    assert events[-1]["kind"] == "reminded" and events[-1]["data"]["number"] == 1
    assert datetime.fromisoformat(detail["reminded_at"]).astimezone(UTC) == \
        (AT + 10 * MIN).astimezone(UTC)
