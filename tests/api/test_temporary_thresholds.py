"""Temporary individual thresholds over HTTP: set until a day or a time, shown with their end
while they last, reverting by themselves at the end, kept in the history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from telehub.domain.clock import FixedClock, use_clock
from tests.api.conftest import LiveApi
from tests.clock_anchors import ANCHORS

AT = ANCHORS[1]                     # 26 Nov 2026, 12:00 in London
REASON = "After this exacerbation: amber from 90 % for 14 days"

Db = psycopg.Connection[Any]


def _amber(body: dict[str, Any]) -> dict[str, Any]:
    return next(t for t in body["thresholds"] if t["rule_id"] == "spo2-scale1-amber")


def test_a_temporary_threshold_lasts_until_its_end_then_reverts(
        live_api: LiveApi, conn: Db) -> None:
    bob = live_api.world.patients["bob"]
    clock = FixedClock(AT)
    with use_clock(clock), live_api.client("nurse") as c:
        r = c.put(f"/patients/{bob}/thresholds", json={
            "rule_id": "spo2-scale1-amber", "params": {"at_or_below": 90}, "reason": REASON,
            "until": "2026-12-10"})
        assert r.status_code == 200, r.text
        amber = _amber(r.json())
        clock.set(datetime(2026, 12, 10, 23, 59, tzinfo=UTC))
        last_minute = _amber(c.get(f"/patients/{bob}/thresholds").json())
        clock.set(datetime(2026, 12, 11, 0, 0, tzinfo=UTC))
        reverted = _amber(c.get(f"/patients/{bob}/thresholds").json())
        history = c.get(f"/patients/{bob}/thresholds/history").json()
    # Through 10 December, London time (GMT): it ends at midnight starting the 11th.
    assert datetime.fromisoformat(amber["until"]) == datetime(2026, 12, 11, tzinfo=UTC)
    assert amber["params"] == {"at_or_below": 90} and amber["individual"] is True
    assert amber["after"] is None and amber["reason"] == REASON
    assert last_minute["params"] == {"at_or_below": 90}
    assert reverted["params"] == {"at_or_below": 93} and reverted["individual"] is False
    assert reverted["until"] is None
    assert [(h["rule_id"], h["state"], h["set_by_name"], h["reason"]) for h in history] == [
        ("spo2-scale1-amber", "ended", "Nurse", REASON)]
    assert datetime.fromisoformat(history[0]["set_at"]) == AT
    audit = conn.execute("SELECT detail FROM audit_log WHERE resource = 'thresholds' "
                         "AND action = 'update'").fetchone()
    assert audit is not None and audit["detail"]["until"] == "2026-12-11T00:00:00+00:00"


def test_a_bad_end_is_refused_and_nothing_is_stored(live_api: LiveApi,
                                                    conn: Db) -> None:
    bob = live_api.world.patients["bob"]
    body = {"rule_id": "spo2-scale1-amber", "params": {"at_or_below": 90}, "reason": REASON}
    with use_clock(FixedClock(AT)), live_api.client("nurse") as c:
        past = c.put(f"/patients/{bob}/thresholds", json={**body, "until": "2026-11-25"})
        too_long = c.put(f"/patients/{bob}/thresholds", json={
            **body, "until": (AT + timedelta(days=91)).isoformat()})
        no_zone = c.put(f"/patients/{bob}/thresholds", json={**body,
                                                              "until": "2026-12-01T09:00"})
    for r in (past, too_long, no_zone):
        assert r.status_code == 422 and r.json()["code"] == "bad-until", r.text
    assert conn.execute("SELECT count(*) AS n FROM thresholds").fetchone() == {"n": 0}


def test_the_history_is_for_the_patients_team_only(live_api: LiveApi) -> None:
    bob = live_api.world.patients["bob"]
    with live_api.client("south-nurse") as c:
        assert c.get(f"/patients/{bob}/thresholds/history").status_code == 404
    with live_api.client("responder") as c:
        assert c.get(f"/patients/{bob}/thresholds/history").status_code == 403
