"""Team outcome figures equal the values worked out by hand on a small seeded service, and
the weekly MDT list names the patients to discuss with the reasons."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import psycopg
from psycopg.types.json import Jsonb

from telehub.care import registration as registry
from telehub.domain.nhs_number import synthetic_nhs_numbers
from tests.api.conftest import LiveApi
from tests.api.data import add_alert


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Seed:
    """Writes episodes, alerts and their events straight into the database."""

    def __init__(self, conn: psycopg.Connection, team: int, staff: int) -> None:
        self.conn, self.team, self.staff, self.n = conn, team, staff, 0

    def episode(self, patient: int, kind: str, started: str, discharged: str | None = None,
                ) -> None:
        self.conn.execute("INSERT INTO hospital_episodes (patient_id, kind, started_on, "
                          "discharged_on, source, recorded_by) VALUES (%s, %s, %s, %s, "
                          "'manual', 'seed')", (patient, kind, date.fromisoformat(started),
                                                date.fromisoformat(discharged) if discharged
                                                else None))

    def alert(self, patient: int, severity: str, at: str, *, team: int | None = None,
              events: tuple[tuple[str, str, bool, str | None], ...] = ()) -> int:
        """An alert breached and created at `at`; events are (kind, time, by staff, severity)."""
        self.n += 1
        row = self.conn.execute(
            "INSERT INTO alerts (patient_id, team_id, rule_id, severity, message, "
            "first_breach_at, last_breach_at, created_at) VALUES (%s, %s, %s, %s, 'seeded', "
            "%s, %s, %s) RETURNING id", (patient, team or self.team, f"seed-{self.n}", severity,
                                        _t(at), _t(at), _t(at))).fetchone()
        assert row is not None
        for kind, when, by_staff, sev in (("opened", at, False, severity), *events):
            self.conn.execute(
                "INSERT INTO alert_events (alert_id, at, kind, actor_id, actor, data) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (row["id"], _t(when), kind, self.staff if by_staff else None,
                 "nurse" if by_staff else "system", Jsonb({"severity": sev} if sev else {})))
        return int(row["id"])


def _seed(care_api: LiveApi, conn: psycopg.Connection) -> dict[str, int]:
    w = care_api.world
    north = w.teams["north"]
    numbers = synthetic_nhs_numbers(start=7100)
    p = {"ann": w.patients["ann"], "bob": w.patients["bob"], "cat": w.patients["cat"]}
    for key, given, family in (("dee", "Dee", "Dunn"), ("eve", "Eve", "Eyre"),
                               ("fay", "Fay", "Ford"), ("gus", "Gus", "Gray")):
        p[key] = registry.add_patient(conn, nhs_number=next(numbers), given_name=given,
                                      family_name=family, birth_date=date(1944, 4, 4),
                                      team="north", conditions=["copd"])
    conn.execute("UPDATE patients SET enrolled_at = '2026-08-01T00:00Z'")
    conn.execute("UPDATE patients SET status = 'discharged', discharged_at = '2026-10-15T12:00Z' "
                 "WHERE id = %s", (p["eve"],))
    conn.execute("UPDATE patients SET enrolled_at = '2026-11-10T00:00Z' WHERE id = %s",
                 (p["fay"],))
    conn.execute("UPDATE patients SET enrolled_at = '2026-11-20T00:00Z' WHERE id = %s",
                 (p["gus"],))
    s = Seed(conn, north, w.staff["nurse"])
    s.episode(p["ann"], "emergency-admission", "2026-10-03", "2026-10-08")
    s.episode(p["ann"], "emergency-admission", "2026-10-20", "2026-10-25")  # readmission
    s.episode(p["bob"], "ae-attendance", "2026-10-15")
    s.episode(p["bob"], "emergency-admission", "2026-11-02", "2026-11-05")
    s.episode(p["ann"], "emergency-admission", "2026-11-30")                # 36 days: not
    s.episode(p["dee"], "ae-attendance", "2026-11-12")
    s.episode(p["dee"], "ae-attendance", "2026-11-13")
    s.episode(p["cat"], "emergency-admission", "2026-10-05")                # south team
    s.alert(p["ann"], "amber", "2026-09-25T10:00")      # precedes 3 Oct
    s.alert(p["ann"], "red", "2026-10-18T10:00",        # precedes 20 Oct; action after 6 min
            events=(("acknowledged", "2026-10-18T10:06", True, None),))
    s.alert(p["ann"], "info", "2026-10-19T10:00")       # info: never counts
    s.alert(p["bob"], "amber", "2026-10-01T10:00")      # 32 days before 2 Nov: not
    s.alert(p["bob"], "red", "2026-10-30T09:00",        # precedes 2 Nov; call after 20 min
            events=(("call-logged", "2026-10-30T09:20", True, None),
                    ("acknowledged", "2026-10-30T09:25", True, None)))
    s.alert(p["ann"], "amber", "2026-11-30T08:00")      # same day as the 30 Nov admission
    s.alert(p["dee"], "red", "2026-10-31T22:00")        # never actioned
    s.alert(p["dee"], "red", "2026-10-12T08:00",        # amber, red at 08:30, ack 08:40: 10 min
            events=(("severity-raised", "2026-10-12T08:30", False, "red"),
                    ("acknowledged", "2026-10-12T08:40", True, None)))
    conn.execute("UPDATE alert_events SET data = '{\"severity\": \"amber\"}' WHERE kind = "
                 "'opened' AND alert_id = (SELECT max(id) FROM alerts)")
    s.alert(p["gus"], "red", "2026-11-21T03:00",        # action after 3 min
            events=(("note", "2026-11-21T03:03", True, None),))
    s.alert(p["cat"], "red", "2026-10-05T01:00", team=care_api.world.teams["south"])
    conn.execute("INSERT INTO risk_scores (patient_id, score, tier, scored_on, imported_by) "
                 "VALUES (%s, 30, 'moderate', '2026-09-01', 'seed'), "
                 "(%s, 50, 'high', '2026-10-01', 'seed')", (p["dee"], p["dee"]))
    conn.commit()
    return p


def test_outcome_figures_equal_the_hand_computed_values(care_api: LiveApi,
                                                        conn: psycopg.Connection) -> None:
    _seed(care_api, conn)
    north = care_api.world.teams["north"]
    r = care_api.client("manager").get(f"/teams/{north}/outcomes",
                                       params={"from": "2026-10", "to": "2026-11"})
    assert r.status_code == 200, r.text
    october, november = r.json()["months"]
    assert october == {
        "month": "2026-10", "monitored_patients": 4,        # ann, bob, dee, eve
        "emergency_admissions": 2, "ae_attendances": 1,
        "admissions_per_1000": 500.0, "ae_per_1000": 250.0, "readmissions_30d": 1,
        "admissions_preceded_by_alert": 2, "alerts_preceding_admissions": 2,
        "red_alerts": 4, "red_alerts_actioned": 3,
        "minutes_to_first_action_median": 10.0, "minutes_to_first_action_p90": 20.0}
    assert november == {
        "month": "2026-11", "monitored_patients": 5,        # ann, bob, dee, fay, gus
        "emergency_admissions": 2, "ae_attendances": 2,
        "admissions_per_1000": 400.0, "ae_per_1000": 400.0, "readmissions_30d": 0,
        "admissions_preceded_by_alert": 2, "alerts_preceding_admissions": 2,
        "red_alerts": 1, "red_alerts_actioned": 1,
        "minutes_to_first_action_median": 3.0, "minutes_to_first_action_p90": 3.0}
    assert "readmissions_30d" in r.json()["definitions"]
    assert care_api.client("nurse").get(f"/teams/{north}/outcomes").status_code == 403
    south = care_api.world.teams["south"]
    assert care_api.client("manager").get(f"/teams/{south}/outcomes").status_code == 404
    assert care_api.client("manager").get(f"/teams/{north}/outcomes", params={
        "from": "2026-12", "to": "2026-11"}).status_code == 422


def test_mdt_list_names_the_patients_to_discuss_and_why(care_api: LiveApi,
                                                       conn: psycopg.Connection) -> None:
    _seed(care_api, conn)
    north = care_api.world.teams["north"]
    r = care_api.client("matron").get(f"/teams/{north}/mdt.csv",
                                      params={"week_ending": "2026-10-21"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(x["display_id"], x["reasons"]) for x in rows] == [
        ("TH-000001", "1 red alert(s); 1 emergency admission(s)"),
        ("TH-000002", "1 A&E attendance(s)"),
        ("TH-000004", "risk rising 30 -> 50")]
    assert rows[0]["named_nurse"] == "Nurse" and rows[2]["risk_tier"] == "high"
    # A month later every north patient enrolled in August is due a review.
    later = care_api.client("matron").get(f"/teams/{north}/mdt.csv",
                                          params={"week_ending": "2026-11-21"}).text
    assert "care-plan review overdue since 01 Nov 2026" in later
    assert care_api.client("south-nurse").get(f"/teams/{north}/mdt.csv").status_code == 404


def test_mdt_csv_cells_never_run_as_spreadsheet_formulas(care_api: LiveApi,
                                                         conn: psycopg.Connection) -> None:
    north = care_api.world.teams["north"]
    given = ['=HYPERLINK("https://evil.example","Open")', "@SUM(1+1)", "+1+1", "-2+3",
             "\tTab", "\uff1dFULLWIDTH"]
    numbers = synthetic_nhs_numbers(500)
    for i, name in enumerate(given):
        pid = registry.add_patient(conn, nhs_number=next(numbers), given_name=name,
                                   family_name=f"Zed{i}", birth_date=date(1940, 1, 2),
                                   team=north)
        add_alert(conn, pid, "spo2-scale1-red", "red", at=_t("2026-10-20T12:00:00"),
                  metric="spo2")
        conn.execute("INSERT INTO risk_scores (patient_id, score, tier, scored_on, imported_by) "
                     "VALUES (%s, 12.5, 'moderate', '2026-10-01', 'seed')", (pid,))
    conn.commit()
    r = care_api.client("matron").get(f"/teams/{north}/mdt.csv",
                                      params={"week_ending": "2026-10-21"})
    assert r.status_code == 200, r.text
    rows = [x for x in csv.DictReader(io.StringIO(r.text)) if x["name"].endswith(
        tuple(f"Zed{i}" for i in range(len(given))))]
    assert sorted(x["name"] for x in rows) == sorted(f"'{g} Zed{i}"
                                                     for i, g in enumerate(given))
    assert {(x["red_alerts"], x["risk_score"]) for x in rows} == {("1", "12.5")}
