"""Rule performance over HTTP equals the figures worked out by hand on a small seeded team, at
several clock anchors (a month edge and both clock-change days); per-patient suggestions of an
individual threshold are accepted (a threshold change with its reason) or dismissed (quiet for
30 days, then back when the rule keeps firing without action)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg.types.json import Jsonb

from telehub.domain import clock
from tests.api.conftest import LiveApi
from tests.api.data import add_alert

LONDON = ZoneInfo("Europe/London")
ANCHORS = [datetime(2026, 12, 1, 0, 15, tzinfo=LONDON),     # just into a new month
           datetime(2026, 3, 29, 8, 0, tzinfo=LONDON),      # spring clock change
           datetime(2026, 10, 25, 9, 0, tzinfo=LONDON)]     # autumn clock change


def _alert(conn: psycopg.Connection[Any], patient: int, rule: str, at: datetime, *,
           outcome: str | None = None, ack_minutes: int | None = None,
           worst: float | None = None, metric: str = "spo2", episode: str | None = None) -> int:
    """An alert as the hub stores it: under its episode when given (the rule in its values)."""
    values: dict[str, Any] = {"worst": {"value": worst}} if worst else {}
    if episode is not None:
        values["rule"] = rule
    extra: dict[str, Any] = {"values": Jsonb(values)}
    if ack_minutes is not None:
        extra.update(acknowledged_at=at + timedelta(minutes=ack_minutes))
    if outcome is not None:
        extra.update(status="resolved", outcome=outcome,
                     resolved_at=at + timedelta(minutes=(ack_minutes or 0) + 60))
    return add_alert(conn, patient, episode or rule, "amber", at=at, metric=metric, **extra)


def _thresholds(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT count(*) AS n FROM thresholds").fetchone()
    assert row is not None
    return int(row["n"])


def _admission(conn: psycopg.Connection[Any], patient: int, at: datetime) -> None:
    conn.execute("INSERT INTO hospital_episodes (patient_id, kind, started_on, source, "
                 "recorded_by) VALUES (%s, 'emergency-admission', %s, 'manual', 'seed')",
                 (patient, clock.service_date(at)))


def _seed(api: LiveApi, conn: psycopg.Connection[Any], now: datetime) -> None:
    ann, bob, cat = (api.world.patients[k] for k in ("ann", "bob", "cat"))
    day = timedelta(days=1)
    noise = ("false-alarm", "no-action-needed", "measurement-error")
    # ann: six SpO2 amber alerts in 30 days, none acted on (worst 93 or 92 %).
    for i, (ack, worst) in enumerate(zip((30, 60, 90, 120, 150, 180),
                                         (93, 92, 93, 93, 92, 93), strict=True)):
        _alert(conn, ann, "spo2-scale1-amber", now - (2 + 4 * i) * day,
               outcome=noise[i % 3], ack_minutes=ack, worst=worst)
    # ann: a weight alert acted on (acknowledged after 10 min), another still open.
    _alert(conn, ann, "weight-gain-3d", now - 9 * day, outcome="medication-changed",
           ack_minutes=10, metric="weight", episode="weight-gain")
    _alert(conn, ann, "weight-gain-3d", now - 1 * day, metric="weight", episode="weight-gain")
    _admission(conn, ann, now - 6 * day)          # after ann's SpO2 (10 d) and weight (9 d)
    # bob: one SpO2 alert with a visit (20 min), then an admission 3 days later.
    _alert(conn, bob, "spo2-scale1-amber", now - 8 * day, outcome="visit-arranged",
           ack_minutes=20, worst=91)
    _admission(conn, bob, now - 5 * day)
    # bob: five fast-pulse alerts, none acknowledged, all noise.
    for i, worst in enumerate((115, 118, 112, 116, 114)):
        _alert(conn, bob, "pulse-amber", now - (3 + 5 * i) * day, outcome="no-action-needed",
               worst=worst, metric="pulse", episode="pulse")
    # Outside the period, or another team's: never counted.
    _alert(conn, bob, "glucose-hypo", now - 43 * day, outcome="advice-given", metric="glucose")
    _admission(conn, bob, now - 40 * day)
    _alert(conn, cat, "spo2-scale1-amber", now - 3 * day, outcome="false-alarm", worst=90)
    conn.commit()


@pytest.mark.parametrize("anchor", ANCHORS, ids=lambda a: a.strftime("%Y-%m-%d-%H%M"))
def test_rule_performance_equals_the_hand_computed_figures(care_api: LiveApi,
                                                           conn: psycopg.Connection[Any],
                                                           anchor: datetime) -> None:
    now = anchor.astimezone(ZoneInfo("UTC"))
    _seed(care_api, conn, now)
    north = care_api.world.teams["north"]
    with clock.use_clock(clock.FixedClock(now)):
        r = care_api.client("matron").get(f"/teams/{north}/rule-performance")
    assert r.status_code == 200, r.text
    rows = {x["rule_id"]: x for x in r.json()["rules"]}
    assert list(rows) == ["spo2-scale1-amber", "pulse-amber", "weight-gain-3d"]
    assert rows["spo2-scale1-amber"] == {
        "rule_id": "spo2-scale1-amber", "alerts": 7, "action": 1, "noise": 6, "unresolved": 0,
        "acknowledged": 7, "action_share": round(1 / 7, 4),
        "median_minutes_to_acknowledge": 90.0,     # of 20, 30, 60, 90, 120, 150, 180
        "admissions_preceded": 2}
    assert rows["pulse-amber"] == {
        "rule_id": "pulse-amber", "alerts": 5, "action": 0, "noise": 5, "unresolved": 0,
        "acknowledged": 0, "action_share": 0.0, "median_minutes_to_acknowledge": None,
        "admissions_preceded": 1}                  # bob's, 3 days after the one of 8 days ago
    assert rows["weight-gain-3d"] == {
        "rule_id": "weight-gain-3d", "alerts": 2, "action": 1, "noise": 0, "unresolved": 1,
        "acknowledged": 1, "action_share": 1.0, "median_minutes_to_acknowledge": 10.0,
        "admissions_preceded": 1}
    assert "action_share" in r.json()["definitions"]
    # Counts only, for the team's managers; a nurse and another team are refused.
    assert care_api.client("nurse").get(f"/teams/{north}/rule-performance").status_code == 403
    south = care_api.world.teams["south"]
    assert care_api.client("manager").get(f"/teams/{south}/rule-performance").status_code == 404


def test_a_suggestion_is_accepted_as_a_threshold_change_with_its_reason(
        care_api: LiveApi, conn: psycopg.Connection[Any]) -> None:
    now = datetime(2026, 11, 26, 12, 0, tzinfo=LONDON)
    _seed(care_api, conn, now)
    ann, bob = care_api.world.patients["ann"], care_api.world.patients["bob"]
    north = care_api.world.teams["north"]
    nurse = care_api.client("nurse")
    with clock.use_clock(clock.FixedClock(now)):
        r = nurse.get(f"/teams/{north}/threshold-suggestions")
        assert r.status_code == 200, r.text
        found = {(s["patient_id"], s["rule_id"]): s for s in r.json()}
        assert set(found) == {(ann, "spo2-scale1-amber"), (bob, "pulse-amber")}
        spo2 = found[(ann, "spo2-scale1-amber")]
        # Lowest worst reading 92 % minus one step is 91 %, the red limit: kept at 92 %.
        assert spo2["alerts_without_action"] == 6 and spo2["current"] == {"at_or_below": 93}
        assert spo2["suggested"] == {"at_or_below": 92.0} and spo2["unit"] == "%"
        assert found[(bob, "pulse-amber")]["suggested"] == {"at_or_above": 119.0}
        # Nothing changes until a clinician accepts, with a reason.
        assert _thresholds(conn) == 0
        bad = nurse.post(f"/patients/{ann}/threshold-suggestions/spo2-scale1-amber/accept",
                         json={"reason": ""})
        assert bad.status_code == 422
        r = nurse.post(f"/patients/{ann}/threshold-suggestions/spo2-scale1-amber/accept",
                       json={"reason": "Stable COPD, usual SpO2 92-93 % at home"})
        assert r.status_code == 201, r.text
        assert r.json()["decision"] == "accepted" and r.json()["threshold_id"] is not None
        shown = {t["rule_id"]: t for t in nurse.get(f"/patients/{ann}/thresholds").json()[
            "thresholds"]}["spo2-scale1-amber"]
        assert shown["individual"] is True and shown["params"]["at_or_below"] == 92
        assert shown["reason"] == "Accepted suggestion: Stable COPD, usual SpO2 92-93 % at home"
        assert shown["set_by_name"] == "Nurse"
        left = nurse.get(f"/teams/{north}/threshold-suggestions").json()
        assert [(s["patient_id"], s["rule_id"]) for s in left] == [(bob, "pulse-amber")]
        # Another team's nurse cannot see or accept it.
        assert care_api.client("south-nurse").post(
            f"/patients/{bob}/threshold-suggestions/pulse-amber/accept",
            json={"reason": "not mine"}).status_code == 404
    audit = conn.execute("SELECT detail FROM audit_log WHERE resource = 'thresholds' AND "
                         "action = 'update'").fetchall()
    assert [a["detail"]["suggestion"] for a in audit] == ["accepted"]


def test_a_dismissed_suggestion_stays_quiet_for_30_days_then_returns(
        care_api: LiveApi, conn: psycopg.Connection[Any]) -> None:
    now = datetime(2026, 10, 25, 9, 0, tzinfo=LONDON)
    _seed(care_api, conn, now)
    bob, north = care_api.world.patients["bob"], care_api.world.teams["north"]
    nurse = care_api.client("nurse")
    fixed = clock.FixedClock(now)

    def listed() -> list[tuple[int, str]]:
        return [(s["patient_id"], s["rule_id"])
                for s in nurse.get(f"/teams/{north}/threshold-suggestions").json()]

    with clock.use_clock(fixed):
        r = nurse.post(f"/patients/{bob}/threshold-suggestions/pulse-amber/dismiss",
                       json={"reason": "Pulse runs fast on his inhalers; keep the default"})
        assert r.status_code == 201, r.text
        assert r.json()["quiet_until"].startswith("2026-11-24")
        assert (bob, "pulse-amber") not in listed()
        assert _thresholds(conn) == 0
        # Five more without action in the next three weeks: still quiet within 30 days…
        for i in range(5):
            _alert(conn, bob, "pulse-amber", now + timedelta(days=2 + 4 * i),
                   outcome="false-alarm", worst=117, metric="pulse")
        conn.commit()
        fixed.set(now + timedelta(days=29))
        assert (bob, "pulse-amber") not in listed()
        # …and back once the quiet period is over, from the alerts since the dismissal only.
        fixed.set(now + timedelta(days=31))
        back = [s for s in nurse.get(f"/teams/{north}/threshold-suggestions").json()
                if s["patient_id"] == bob]
        assert [(s["rule_id"], s["alerts_without_action"], s["suggested"]) for s in back] == [
            ("pulse-amber", 5, {"at_or_above": 118.0})]
