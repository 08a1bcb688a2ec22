"""CSV imports: risk tiers and hospital episodes keep the good rows, list every bad one with
its reason, and re-importing changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from tests.api.conftest import LiveApi

CSV = {"Content-Type": "text/csv"}


def test_risk_tiers_keep_good_rows_and_explain_bad_ones(care_api: LiveApi,
                                                        conn: psycopg.Connection) -> None:
    text = ("NHS Number,Score,Tier,Date\n"
            "999 000 0026,72.5,High,2026-10-01\n"      # ann
            "9990000034,31,moderate,01/10/2026\n"       # bob, UK date
            "9990000035,50,high,2026-10-01\n"           # bad check digit
            "9990000034,abc,high,2026-10-02\n"          # bad score
            "9990000034,40,,2026-10-03\n"               # no tier
            "9990000034,40,high,2099-01-01\n"           # future
            "9990000042,40,high,2026-10-01\n"           # cat: south team, not the nurse's
            "\n"
            "9990000034,45,high,2026-11-01\n")          # bob again, later: rising
    nurse = care_api.client("nurse")
    r = nurse.post("/risk-tiers", content=text.encode(), headers=CSV)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["rows"] == 8 and body["imported"] == 3 and body["unchanged"] == 0
    assert [(e["row"], e["code"]) for e in body["errors"]] == [
        (3, "bad-nhs-number"), (4, "bad-score"), (5, "bad-tier"), (6, "future-date"),
        (7, "unknown-patient")]
    assert "9990000042" not in r.text  # never echoes NHS numbers
    again = nurse.post("/risk-tiers", content=text.encode(), headers=CSV).json()
    assert again["imported"] == 0 and again["unchanged"] == 3

    rows = nurse.get("/care/patients", params={"sort": "risk"}).json()
    assert [(p["display_id"], p["risk_tier"], p["risk_score"], p["risk_rising"])
            for p in rows] == [("TH-000001", "high", 72.5, False),
                               ("TH-000002", "high", 45.0, True)]
    assert [p["display_id"] for p in nurse.get("/care/patients",
                                               params={"tier": "moderate"}).json()] == []
    bob = care_api.world.patients["bob"]
    history = nurse.get(f"/patients/{bob}/risk").json()
    assert [(h["scored_on"], h["tier"]) for h in history] == [("2026-11-01", "high"),
                                                             ("2026-10-01", "moderate")]
    bad = nurse.post("/risk-tiers", content=b"nhs,score\n1,2\n", headers=CSV).json()
    assert bad["imported"] == 0 and bad["errors"][0]["code"] == "bad-header"
    assert nurse.post("/risk-tiers", content=b"\xff\xfe\x00", headers=CSV).status_code == 422
    assert care_api.client("responder").post("/risk-tiers", content=text.encode(),
                                             headers=CSV).status_code == 403


def test_admissions_import_by_hand_and_csv_with_follow_up_after_discharge(
        care_api: LiveApi, conn: psycopg.Connection) -> None:
    ann, bob = care_api.world.patients["ann"], care_api.world.patients["bob"]
    nurse = care_api.client("nurse")
    today = datetime.now(UTC).date()
    started = (today - timedelta(days=5)).isoformat()
    r = nurse.post(f"/patients/{ann}/admissions", json={
        "kind": "emergency-admission", "started_on": started, "hospital": "LGI",
        "reason": "Breathless"})
    assert r.status_code == 201, r.text
    episode = r.json()
    assert episode["discharged_on"] is None
    status = conn.execute("SELECT status::text AS s FROM patients WHERE id = %s",
                          (ann,)).fetchone()
    assert status is not None and status["s"] == "in-hospital"
    assert nurse.post(f"/patients/{ann}/admissions", json={
        "kind": "emergency-admission", "started_on": started}).status_code == 409
    discharged = (today - timedelta(days=1)).isoformat()
    r = nurse.post(f"/admissions/{episode['id']}/discharge", json={"discharged_on": discharged})
    assert r.status_code == 200 and r.json()["discharged_on"] == discharged
    team = care_api.world.teams["north"]
    [task] = nurse.get(f"/teams/{team}/follow-ups").json()
    assert task["display_id"] == "TH-000001"
    assert task["due_on"] == (today + timedelta(days=1)).isoformat()
    r = nurse.post(f"/admissions/{episode['id']}/review", json={
        "avoidable": "unsure", "would_have_helped": "Earlier diuretic review"})
    assert r.status_code == 200 and r.json()["reviewed_by"] == "nurse"
    assert nurse.post(f"/follow-ups/{task['id']}/done", json={"note": "Called"}).status_code == 200
    assert nurse.get(f"/teams/{team}/follow-ups").json() == []
    assert nurse.post(f"/follow-ups/{task['id']}/done", json={}).status_code == 409
    status = conn.execute("SELECT status::text AS s FROM patients WHERE id = %s",
                          (ann,)).fetchone()
    assert status is not None and status["s"] == "active"

    text = ("nhs_number,kind,started_on,discharged_on,hospital,reason\n"
            "9990000034,A&E,2026-10-02,,SJUH,Fall\n"
            "9990000034,emergency-admission,2026-10-10,2026-10-14,SJUH,COPD exacerbation\n"
            "9990000034,surgery,2026-10-10,,,\n"                  # unknown kind
            "9990000034,emergency-admission,2026-10-20,2026-10-19,,\n"  # discharge before start
            "9990000034,ae-attendance,not a date,,,\n"
            "9990000042,ae-attendance,2026-10-01,,,\n")           # another team's patient
    r = nurse.post("/admissions/import", content=text.encode(), headers=CSV)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["imported"] == 2
    assert [(e["row"], e["code"]) for e in body["errors"]] == [
        (3, "bad-kind"), (4, "bad-discharged_on"), (5, "bad-started_on"), (6, "unknown-patient")]
    assert nurse.post("/admissions/import", content=text.encode(),
                      headers=CSV).json()["unchanged"] == 2
    episodes = nurse.get(f"/patients/{bob}/admissions").json()
    assert [(e["kind"], e["started_on"], e["source"]) for e in episodes] == [
        ("emergency-admission", "2026-10-10", "import"), ("ae-attendance", "2026-10-02", "import")]
    tasks = nurse.get(f"/teams/{team}/follow-ups").json()
    assert [(t["display_id"], t["due_on"]) for t in tasks] == [("TH-000002", "2026-10-16")]
