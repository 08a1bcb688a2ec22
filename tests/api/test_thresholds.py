"""`GET/PUT /patients/{id}/thresholds`: catalogue defaults, individual overrides, validation."""

from __future__ import annotations

import httpx
import psycopg
import pytest

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


def _hypo(c: httpx.Client, patient: int, below: object) -> httpx.Response:
    return c.put(f"/patients/{patient}/thresholds",
                 json={"rule_id": "glucose-hypo-severe", "params": {"below": below},
                       "reason": "Hypo unaware: act earlier"})


def test_a_glucose_limit_is_set_with_its_unit_and_returned_with_it(
        live_api: LiveApi, conn: psycopg.Connection) -> None:
    cat = live_api.world.patients["cat"]
    with live_api.client("south-nurse") as c:
        before = {t["rule_id"]: t for t in c.get(f"/patients/{cat}/thresholds"
                                                 ).json()["thresholds"]}
        r = _hypo(c, cat, {"value": 3.5, "unit": "mmol/L"})
    assert before["glucose-hypo-severe"]["shown"] == "below 3.0 mmol/L (54 mg/dL)"
    assert before["glucose-hypo"]["shown"] == "below 4.0 mmol/L"
    assert r.status_code == 200, r.text
    severe = {t["rule_id"]: t for t in r.json()["thresholds"]}["glucose-hypo-severe"]
    assert severe["units"] == {"below": "mg/dL"}
    assert severe["params"]["below"] == pytest.approx(63.056)
    assert severe["shown"] == severe["override_shown"] == "below 3.5 mmol/L (63 mg/dL)"
    assert severe["default_shown"] == "below 3.0 mmol/L (54 mg/dL)"
    assert severe["entry"] == {"below": {"value": 3.5, "unit": "mmol/L"}}
    with live_api.client("south-nurse") as c:
        assert _hypo(c, cat, "63mg/dL").status_code == 200
    stored = [r["params"] for r in conn.execute(
        "SELECT params FROM thresholds WHERE rule_id = 'glucose-hypo-severe' ORDER BY id")]
    assert stored[0]["below"] == pytest.approx(63.056) and stored[1] == {"below": 63}


def test_a_glucose_limit_without_its_unit_or_implausible_for_it_is_refused(
        live_api: LiveApi, conn: psycopg.Connection) -> None:
    cat = live_api.world.patients["cat"]
    cases = [(3.5, "missing-unit"), ("3.5", "missing-unit"),
             ({"value": 3.5, "unit": None}, "missing-unit"),
             ("35 mmol/L", "implausible-threshold"),
             ({"value": 3.5, "unit": "mg/dL"}, "implausible-threshold"),
             ({"value": 3.5, "unit": "%"}, "wrong-unit")]
    with live_api.client("south-nurse") as c:
        answers = [(_hypo(c, cat, below), code) for below, code in cases]
    for r, code in answers:
        assert r.status_code == 422 and r.json()["code"] == code, r.text
    missing = answers[0][0].json()["detail"]
    assert "needs its unit" in missing and "mmol/L, mg/dL" in missing
    assert "36–144 mg/dL" in answers[3][0].json()["detail"]
    assert conn.execute("SELECT count(*) AS n FROM thresholds").fetchone() == {"n": 0}
