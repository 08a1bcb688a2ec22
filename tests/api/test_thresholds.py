"""`GET/PUT /patients/{id}/thresholds`: catalogue defaults, individual overrides, validation."""

from __future__ import annotations

import psycopg

from tests.api.conftest import LiveApi


def test_nurse_sets_an_individual_threshold_with_a_reason(live_api: LiveApi,
                                                          conn: psycopg.Connection) -> None:
    bob = live_api.world.patients["bob"]
    with live_api.client("nurse") as c:
        before = {t["rule_id"]: t for t in c.get(f"/patients/{bob}/thresholds"
                                                 ).json()["thresholds"]}
        assert before["spo2-scale1-red"]["individual"] is False
        assert before["spo2-scale1-red"]["params"] == {"at_or_below": 91}
        r = c.put(f"/patients/{bob}/thresholds",
                  json={"rule_id": "spo2-scale1-red", "params": {"at_or_below": 89},
                        "reason": "COPD, usual saturation 90-92 % on room air"})
    assert r.status_code == 200, r.text
    after = {t["rule_id"]: t for t in r.json()["thresholds"]}
    red = after["spo2-scale1-red"]
    assert red["individual"] is True and red["params"] == {"at_or_below": 89}
    assert red["default"] == {"at_or_below": 91}
    assert red["set_by_name"] == "Nurse" and red["reason"].startswith("COPD")
    row = conn.execute("SELECT set_by FROM thresholds").fetchone()
    assert row["set_by"] == live_api.world.staff["nurse"]
    assert [a["action"] for a in conn.execute(
        "SELECT action FROM audit_log WHERE resource = 'thresholds' ORDER BY id")] == [
        "read", "update"]


def test_thresholds_are_checked_against_the_catalogue(live_api: LiveApi) -> None:
    bob = live_api.world.patients["bob"]
    with live_api.client("nurse") as c:
        unknown = c.put(f"/patients/{bob}/thresholds",
                        json={"rule_id": "no-such-rule", "params": {"x": 1}, "reason": "why"})
        param = c.put(f"/patients/{bob}/thresholds",
                      json={"rule_id": "spo2-scale1-red", "params": {"below": 1},
                            "reason": "because"})
        no_reason = c.put(f"/patients/{bob}/thresholds",
                          json={"rule_id": "spo2-scale1-red", "params": {"at_or_below": 90}})
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown-rule"
    assert param.status_code == 422 and param.json()["code"] == "unknown-param"
    assert no_reason.status_code == 422 and "reason" in no_reason.json()["detail"]


def test_responders_cannot_change_thresholds(live_api: LiveApi) -> None:
    bob = live_api.world.patients["bob"]
    with live_api.client("responder") as c:
        r = c.put(f"/patients/{bob}/thresholds",
                  json={"rule_id": "spo2-scale1-red", "params": {"at_or_below": 89},
                        "reason": "no authority"})
    assert r.status_code == 403
