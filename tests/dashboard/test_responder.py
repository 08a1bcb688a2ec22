"""Responder queue against the real API: urgent alerts with the context to act, actions
recorded in the database, a fall arriving on the next refresh."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row
from streamlit.testing.v1 import AppTest

from alerts.telecare import TelecareEvent, raise_telecare_alerts
from telehub.care import registration as registry
from telehub.db.pool import connect
from tests.dashboard.conftest import Seeded, add_staff, no_exceptions, page_text, sign_in


def add_care_context(conn: psycopg.Connection, patient: int) -> None:
    """Key safe, access note, advance decision, single point of access and a carer."""
    conn.execute(
        "INSERT INTO patient_care (patient_id, key_safe_note, access_note, advance_decision, "
        "advance_decision_note, spa_phone) VALUES (%s, %s, %s, true, %s, %s)",
        (patient, "Key safe by the back door, code 4321", "Side gate, dog is friendly",
         "ReSPECT form on the fridge", "0300 123 4567"))
    conn.execute(
        "INSERT INTO patient_contacts (patient_id, name, relationship, phone, next_of_kin, "
        "notify_alerts) VALUES (%s, 'Susan Clegg', 'daughter', '07700 900123', true, true)",
        (patient,))


def _responder(db_url: str) -> None:
    with connect(db_url) as conn:
        add_staff(conn, "response.centre", "Telecare Response Centre", "responder")


def _events(db_url: str, alert_id: int) -> list[dict[str, object]]:
    with connect(db_url) as conn:
        return list(conn.cursor(row_factory=dict_row).execute(
            "SELECT kind, actor, note FROM alert_events WHERE alert_id = %s ORDER BY id",
            (alert_id,)).fetchall())


def test_a_responder_sees_the_urgent_alert_with_what_they_need_to_act(
        app_test: AppTest, seeded: Seeded, db_url: str) -> None:
    _responder(db_url)
    with connect(db_url) as conn:
        add_care_context(conn, seeded.red_patient)
    at = sign_in(app_test, "response.centre")
    no_exceptions(at)
    assert at.title[0].value == "Responder queue"
    text = page_text(at)
    assert "1 urgent alerts · 1 RED" in text
    assert "🔴 RED · Patricia Clegg (TH-000003) · open" in text
    assert "SpO2 89 % is at or below the red limit of 91 %" in text
    assert "**Address** 12 Aire Street, LS1 4AB" in text
    assert "**Key safe** Key safe by the back door, code 4321" in text
    assert "**Access** Side gate, dog is friendly" in text
    assert "- Susan Clegg (daughter, next of kin): 07700 900123" in text
    assert "**Single point of access** 0300 123 4567" in text
    assert ("⚠️ **Advance decision in place** (ReSPECT/DNACPR): ReSPECT form on the fridge"
            in text)
    assert "- SpO2 (%): 89 %" in text  # the latest vital sign, with its unit
    assert "**When to act (care plan)**" in text
    assert "Brierley" not in text  # the amber alert stays with the nursing team
    assert "9434765889" not in text  # no NHS number


def test_responder_actions_are_recorded_and_resolving_needs_an_outcome(
        app_test: AppTest, seeded: Seeded, db_url: str) -> None:
    _responder(db_url)
    alert = seeded.red_alert
    at = sign_in(app_test, "response.centre")
    at.selectbox(key=f"responder_action_{alert}").set_value("call-logged")
    at.text_input(key=f"responder_note_{alert}").input("Spoke to Patricia, breathless")
    at.button(key=f"responder_save_{alert}").click().run()
    no_exceptions(at)
    assert "Call logged recorded for TH-000003." in page_text(at)
    assert {"kind": "call-logged", "actor": "response.centre",
            "note": "Spoke to Patricia, breathless"} in _events(db_url, alert)
    # Any action by a responder acknowledges the alert first: somebody is on it.
    assert "Done so far: acknowledged, call logged" in page_text(at)
    assert "🔴 RED · Patricia Clegg (TH-000003) · acknowledged" in page_text(at)

    assert at.selectbox(key=f"responder_action_{alert}").options[0] == "Call logged"
    at.selectbox(key=f"responder_action_{alert}").set_value("resolved").run()
    at.button(key=f"responder_save_{alert}").click().run()
    assert "Choose the outcome before resolving." in page_text(at)
    at.selectbox(key=f"responder_outcome_{alert}").set_value("visit-arranged")
    at.button(key=f"responder_save_{alert}").click().run()
    no_exceptions(at)
    with connect(db_url) as conn:
        row = conn.cursor(row_factory=dict_row).execute(
            "SELECT status, outcome FROM alerts WHERE id = %s", (alert,)).fetchone()
    assert row == {"status": "resolved", "outcome": "visit-arranged"}
    assert "No urgent alerts." in page_text(at)


def test_a_fall_shows_in_the_queue_on_the_next_refresh(
        app_test: AppTest, seeded: Seeded, db_url: str) -> None:
    _responder(db_url)
    at = sign_in(app_test, "response.centre")
    assert "FALL" not in page_text(at)
    with connect(db_url) as conn:
        registry.add_device(conn, device_id="fall-g1", kind="fall-detector",
                            patient=seeded.green_patient)
        now = datetime.now(UTC)
        raise_telecare_alerts(conn, [TelecareEvent(seeded.green_patient, "fall", now,
                                                   "fall-g1")],
                              now, ZoneInfo("Europe/London"))
    at.run()  # what the fragment's timer does every REFRESH_S seconds
    no_exceptions(at)
    text = page_text(at)
    assert "2 urgent alerts · 2 RED" in text
    assert "🔴 RED · FALL · Margaret Ashworth (TH-000001) · open" in text
    headings = [m.value for m in at.markdown if str(m.value).startswith("**🔴")]
    assert "FALL" in headings[0] and "SpO2" not in headings[0]  # the fall first, though newer
    assert "Fall detected by telecare device fall-g1" in text
