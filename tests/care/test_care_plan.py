"""The people around the patient and the care plan: consent with date and who, the triggers
with individual thresholds and advice, the printable page, review dates and overdue flags."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg

from alerts.thresholds import set_threshold
from telehub.care.plan import add_months, next_review_due, review_overdue
from telehub.domain import clock
from tests.api.conftest import LiveApi


def test_care_team_records_consent_with_its_date_and_who_took_it(care_api: LiveApi) -> None:
    ann = care_api.world.patients["ann"]
    nurse = care_api.client("nurse")
    r = nurse.put(f"/patients/{ann}/care-team", json={"consent_monitoring": True})
    assert r.status_code == 422 and r.json()["code"] == "consent-incomplete"
    r = nurse.put(f"/patients/{ann}/care-team", json={
        "gp_name": "Dr Patel", "gp_practice": "Hillside Surgery", "spa_phone": "0300 111 2222",
        "coordinator_id": care_api.world.staff["matron"], "coordinator_role": "community matron",
        "consent_monitoring": True, "consent_sharing": False, "consent_on": "2026-09-30",
        "consent_taken_by": "Nurse", "enrolment_conditions": True, "enrolment_risk": True})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["coordinator_name"] == "Matron" and body["consent_sharing"] is False
    assert body["consent_on"] == "2026-09-30" and body["updated_by"] == "nurse"
    # A coordinator from another team is refused; another team's nurse cannot see the record.
    r = nurse.put(f"/patients/{ann}/care-team",
                  json={"coordinator_id": care_api.world.staff["south-nurse"]})
    assert r.status_code == 422 and r.json()["code"] == "bad-coordinator"
    assert care_api.client("south-nurse").get(f"/patients/{ann}/care-team").status_code == 404
    assert care_api.client("responder").get(f"/patients/{ann}/care-team").status_code == 403


def test_carers_are_added_changed_and_removed_as_history(care_api: LiveApi) -> None:
    bob = care_api.world.patients["bob"]
    nurse = care_api.client("nurse")
    made = nurse.post(f"/patients/{bob}/contacts", json={
        "name": "Sam Baker", "relationship": "son", "phone": "07700 900999"}).json()
    assert made["notify_alerts"] is False
    changed = nurse.put(f"/patients/{bob}/contacts/{made['id']}", json={
        "name": "Sam Baker", "relationship": "son", "phone": "07700 900999",
        "notify_alerts": True})
    assert changed.status_code == 200 and changed.json()["notify_alerts"] is True
    assert nurse.post(f"/patients/{bob}/contacts/{made['id']}/remove").status_code == 200
    assert nurse.get(f"/patients/{bob}/contacts").json() == []
    [old] = nurse.get(f"/patients/{bob}/contacts", params={"include_removed": True}).json()
    assert old["removed_at"] is not None
    assert nurse.post(f"/patients/{bob}/contacts", json={"name": ""}).status_code == 422


def test_care_plan_page_shows_the_individual_triggers_and_advice(
        care_api: LiveApi, conn: psycopg.Connection) -> None:
    bob = care_api.world.patients["bob"]   # COPD
    set_threshold(conn, bob, "spo2-scale1-red", {"at_or_below": 89},
                  "COPD, usual SpO2 91-93 %", "matron")
    conn.commit()
    nurse = care_api.client("nurse")
    nurse.put(f"/patients/{bob}/care-team", json={"spa_phone": "0300 999 0000"})
    r = nurse.put(f"/patients/{bob}/care-plan", json={
        "advice": {"spo2-low": "Start your rescue pack & call the number above <now>."},
        "schedule": [{"metric": "spo2", "per_day": 2, "window": "morning"},
                     {"metric": "pulse", "per_day": 2}]})
    assert r.status_code == 200, r.text
    plan = r.json()
    red = [t for t in plan["triggers"] if t["rule_id"] == "spo2-scale1-red"]
    assert red == [{"episode": "spo2-low", "label": "Low oxygen saturation", "severity": "red",
                    "rule_id": "spo2-scale1-red", "metric": "spo2",
                    "when": "SpO2 at or below 89 %", "individual": True,
                    "advice": "Start your rescue pack & call the number above <now>."}]
    assert not any(t["metric"] == "weight" for t in plan["triggers"])  # not heart failure
    assert [s["metric"] for s in plan["schedule"]] == ["pulse", "spo2"]

    page = nurse.get(f"/patients/{bob}/care-plan.html")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "SpO2 at or below 89 %" in html and "0300 999 0000" in html
    assert "Start your rescue pack &amp; call the number above &lt;now&gt;." in html
    assert "Bob Baker" in html and "TH-000002" in html and "9990000034" not in html
    assert "2 a day (morning)" in html
    assert nurse.put(f"/patients/{bob}/care-plan",
                     json={"advice": {"no-such-episode": "x"}}).status_code == 422
    audit = conn.execute("SELECT action FROM audit_log WHERE resource = 'care-plan' "
                         "ORDER BY id").fetchall()
    assert [a["action"] for a in audit] == ["update", "print"]


def test_reviews_fall_due_quarterly_and_overdue_ones_are_listed(
        care_api: LiveApi, conn: psycopg.Connection) -> None:
    ann, bob = care_api.world.patients["ann"], care_api.world.patients["bob"]
    # Enrolled four months ago and never reviewed: overdue (due three months after enrolment).
    conn.execute("UPDATE patients SET enrolled_at = now() - interval '4 months'")
    conn.commit()
    nurse = care_api.client("nurse")
    overdue = nurse.get("/care/overdue-reviews").json()
    assert [p["display_id"] for p in overdue] == ["TH-000001", "TH-000002"]
    assert all(p["review_overdue"] for p in overdue)
    today = clock.today()
    r = nurse.post(f"/patients/{ann}/care-plan/reviews", json={"note": "Stable"})
    assert r.status_code == 201
    assert r.json()["review_due"] == next_review_due(today).isoformat()
    assert r.json()["review_overdue"] is False
    assert [p["display_id"] for p in nurse.get("/care/overdue-reviews").json()] == ["TH-000002"]
    plan = nurse.get(f"/patients/{bob}/care-plan").json()
    assert plan["review_overdue"] is True
    assert nurse.post(f"/patients/{bob}/care-plan/reviews", json={
        "reviewed_on": (today + timedelta(days=1)).isoformat()}).status_code == 422
    # The south team's nurse sees only the south's patient.
    south = care_api.client("south-nurse").get("/care/overdue-reviews").json()
    assert [p["display_id"] for p in south] == ["TH-000003"]


def test_review_dates_add_calendar_months() -> None:
    assert next_review_due(date(2026, 11, 30)) == date(2027, 2, 28)
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 3, 15), -5) == date(2025, 10, 15)
    assert review_overdue(date(2026, 1, 1), date(2026, 1, 2))
    assert not review_overdue(None, date(2026, 1, 2))


def test_review_dates_are_judged_on_the_london_calendar_just_after_midnight(
        care_api: LiveApi, conn: psycopg.Connection) -> None:
    """At 00:30 BST on 1 June it is 1 June for the nurse (the UTC date is still 31 May): a
    review due 31 May is overdue, one due 1 June is due today, and a review recorded now is
    dated 1 June."""
    ann, bob = care_api.world.patients["ann"], care_api.world.patients["bob"]
    for patient, due in ((ann, date(2026, 5, 31)), (bob, date(2026, 6, 1))):
        conn.execute("INSERT INTO patient_care (patient_id, review_due) VALUES (%s, %s) "
                     "ON CONFLICT (patient_id) DO UPDATE SET review_due = excluded.review_due",
                     (patient, due))
    conn.commit()
    nurse = care_api.client("nurse")
    half_past_midnight = datetime(2026, 6, 1, 0, 30, tzinfo=ZoneInfo("Europe/London"))
    with clock.use_clock(clock.FixedClock(half_past_midnight)):
        assert nurse.get(f"/patients/{ann}/care-plan").json()["review_overdue"] is True
        assert nurse.get(f"/patients/{bob}/care-plan").json()["review_overdue"] is False
        overdue = nurse.get("/care/overdue-reviews").json()
        assert [p["patient_id"] for p in overdue] == [ann]
        r = nurse.post(f"/patients/{bob}/care-plan/reviews", json={"note": "Stable"})
        assert r.status_code == 201
        assert r.json()["reviews"][0]["reviewed_on"] == "2026-06-01"
        assert r.json()["review_due"] == "2026-09-01"
