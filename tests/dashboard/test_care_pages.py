"""Patient page care sections against the real API: the people around the patient, consent,
carers, the care plan with its triggers and printable page, reviews, admissions."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from psycopg.rows import dict_row
from streamlit.testing.v1 import AppTest

from dashboard.client import ApiClient, new_http
from telehub.db.pool import connect
from telehub.domain import clock
from tests.dashboard.conftest import PASSWORD, Seeded, no_exceptions, page_text, sign_in
from tests.dashboard.test_responder import add_care_context


def _open_patient(at: AppTest, patient_id: int) -> AppTest:
    at.selectbox(key="caseload_open").set_value(patient_id).run()
    at.button(key="caseload_open_button").click().run()
    no_exceptions(at)
    return at


def _rows(db_url: str, query: str, *args: Any) -> list[dict[str, Any]]:
    with connect(db_url) as conn:
        return list(conn.cursor(row_factory=dict_row).execute(query, args).fetchall())


def _labelled(elements: Any, label: str) -> Any:
    return next(e for e in elements if e.label == label)


def _frame(at: AppTest, column: str) -> Any:
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_the_care_team_section_shows_access_consent_and_carers_and_a_nurse_adds_one(
        app_test: AppTest, seeded: Seeded, db_url: str) -> None:
    with connect(db_url) as conn:
        add_care_context(conn, seeded.red_patient)
    at = _open_patient(sign_in(app_test, "nurse.north"), seeded.red_patient)
    text = page_text(at)
    assert "**Single point of access** 0300 123 4567" in text
    assert "**Key safe** Key safe by the back door, code 4321" in text
    assert "**Advance decision (ReSPECT/DNACPR)** ⚠️ **in place**: ReSPECT form on the fridge" \
        in text
    assert "**Consent** Monitoring: not recorded · sharing: not recorded" in text
    carers = _frame(at, "Relationship")
    assert list(carers["Name"]) == ["Susan Clegg"]
    assert list(carers["Next of kin"]) == ["yes"]

    _labelled(at.text_input, "Carer's name").input("Peter Clegg")
    _labelled(at.text_input, "Relationship").input("son")
    _labelled(at.text_input, "Phone").input("07700 900456")
    _labelled(at.button, "Add carer").click().run()
    no_exceptions(at)
    assert "Peter Clegg added." in page_text(at)
    assert [r["name"] for r in _rows(db_url, "SELECT name FROM patient_contacts WHERE "
                                     "patient_id = %s ORDER BY id", seeded.red_patient)] == [
        "Susan Clegg", "Peter Clegg"]

    # Consent recorded with the date and who took it; the other fields are kept.
    _labelled(at.checkbox, "Consents to monitoring").check()
    _labelled(at.date_input, "Consent recorded on").set_value(date(2026, 11, 3))
    _labelled(at.text_input, "Consent taken by").input("Grace Okafor")
    _labelled(at.button, "Save care team").click().run()
    no_exceptions(at)
    assert "Care team saved." in page_text(at)
    stored = _rows(db_url, "SELECT consent_monitoring, consent_on, consent_taken_by, "
                   "key_safe_note FROM patient_care WHERE patient_id = %s", seeded.red_patient)
    assert stored == [{"consent_monitoring": True, "consent_on": date(2026, 11, 3),
                       "consent_taken_by": "Grace Okafor",
                       "key_safe_note": "Key safe by the back door, code 4321"}]
    assert ("**Consent** Monitoring: yes · sharing: no · recorded 03 Nov 2026 by Grace Okafor"
            in page_text(at))


def test_the_care_plan_shows_triggers_flags_an_overdue_review_and_records_one(
        app_test: AppTest, seeded: Seeded, db_url: str) -> None:
    with connect(db_url) as conn:
        conn.execute("INSERT INTO patient_care (patient_id, review_due, advice) "
                     "VALUES (%s, %s, %s)",
                     (seeded.red_patient, date.today() - timedelta(days=10),
                      '{"spo2-low": "Start your rescue pack and call the team."}'))
    at = _open_patient(sign_in(app_test, "nurse.north"), seeded.red_patient)
    assert "⚠️ REVIEW OVERDUE since" in page_text(at)
    triggers = _frame(at, "When")
    assert any("91" in w for w in triggers["When"])  # the red SpO2 limit, in words
    assert "Start your rescue pack and call the team." in list(triggers["What to do"])
    assert any(b.label.startswith("Printable care plan") for b in at.get("download_button"))

    _labelled(at.text_input, "Review note").input("Stable; plan unchanged")
    _labelled(at.button, "Record review").click().run()
    no_exceptions(at)
    assert "Review recorded." in page_text(at)
    reviews = _rows(db_url, "SELECT note, next_due FROM care_plan_reviews WHERE patient_id = %s",
                    seeded.red_patient)
    assert len(reviews) == 1 and reviews[0]["note"] == "Stable; plan unchanged"
    assert reviews[0]["next_due"] > date.today() + timedelta(days=80)  # about 3 months on
    assert "REVIEW OVERDUE" not in page_text(at)
    assert "Review due" in page_text(at)


def test_a_nurse_changes_the_measurement_schedule_and_sees_the_risk_trend(
        app_test: AppTest, seeded: Seeded, db_url: str) -> None:
    with connect(db_url) as conn:
        conn.execute("INSERT INTO risk_scores (patient_id, score, tier, scored_on, imported_by) "
                     "VALUES (%s, 35, 'moderate', '2026-08-01', 'test'), "
                     "(%s, 62, 'high', '2026-11-01', 'test')",
                     (seeded.red_patient, seeded.red_patient))
    at = _open_patient(sign_in(app_test, "nurse.north"), seeded.red_patient)
    assert ("**Risk tier** high: score 62 on 01 Nov 2026, rising (was 35 on 01 Aug 2026)"
            in page_text(at))
    at.number_input(key="schedule_weight").set_value(1)
    at.text_input(key="window_weight").input("morning")
    at.number_input(key="schedule_pulse").set_value(0)
    _labelled(at.button, "Save schedule").click().run()
    no_exceptions(at)
    assert "Measurement schedule saved." in page_text(at)
    [row] = _rows(db_url, "SELECT care_plan FROM patients WHERE id = %s", seeded.red_patient)
    assert row["care_plan"] == {"spo2": {"per_day": 2},
                                "weight": {"per_day": 1, "window": "morning"}}
    text = page_text(at)
    assert "**Measurements** SpO2 (%) 2×/day; Weight (kg) 1×/day (morning)" in text
    assert "**Care plan** SpO2 (%) 2×/day; Weight (kg) 1×/day (morning)" in text  # header


def test_the_printable_plan_carries_the_triggers(seeded: Seeded, api_url: str) -> None:
    with new_http(api_url) as http:
        client = ApiClient(http)
        token = client.sign_in("nurse.north", PASSWORD).access_token
        html = client.with_token(token).care_plan_html(seeded.red_patient)
    assert html.lstrip().lower().startswith("<!doctype html")
    assert "TH-000003" in html and "91" in html


def test_a_nurse_records_an_admission_and_its_review(app_test: AppTest, seeded: Seeded,
                                                     db_url: str) -> None:
    at = _open_patient(sign_in(app_test, "nurse.north"), seeded.red_patient)
    assert "No emergency admissions or A&E attendances recorded." in page_text(at)
    # Started today (the default): the red alert an hour ago preceded it.
    _labelled(at.text_input, "Hospital").input("Leeds General Infirmary")
    _labelled(at.text_input, "Reason").input("COPD exacerbation")
    _labelled(at.button, "Record episode").click().run()
    no_exceptions(at)
    assert "Emergency admission recorded." in page_text(at)
    table = _frame(at, "Avoidable?")
    assert list(table["Discharged"]) == ["still in hospital"]
    assert list(table["Alerts in the 14 days before"]) == [1]  # the red SpO2 alert

    _labelled(at.button, "Record discharge").click().run()
    no_exceptions(at)
    assert _rows(db_url, "SELECT count(*) AS n FROM follow_up_tasks")[0]["n"] == 1

    _labelled(at.selectbox, "Was it avoidable?").set_value("unsure")
    _labelled(at.text_input, "What would have helped").input("Earlier rescue pack")
    _labelled(at.button, "Save review").click().run()
    no_exceptions(at)
    episode = _rows(db_url, "SELECT kind, hospital, discharged_on, avoidable, would_have_helped "
                    "FROM hospital_episodes")
    assert episode == [{"kind": "emergency-admission", "hospital": "Leeds General Infirmary",
                        "discharged_on": clock.today(), "avoidable": "unsure",
                        "would_have_helped": "Earlier rescue pack"}]
