"""Devices (admin) and team view (matron, manager) against the real API."""

from __future__ import annotations

import json
from typing import Any

from psycopg.rows import dict_row
from streamlit.testing.v1 import AppTest

from telehub.db.pool import connect
from tests.dashboard.conftest import Seeded, add_staff, no_exceptions, page_text, sign_in


def test_an_admin_registers_links_and_gets_credentials_shown_once(
        app_test: AppTest, seeded: Seeded, db_url: str) -> None:
    with connect(db_url) as conn:
        conn.execute("UPDATE devices SET online = false, battery = 8 WHERE device_id = 'oxi-r1'")
    at = sign_in(app_test, "site.admin")
    no_exceptions(at)
    assert at.title[0].value == "Devices"
    table = at.dataframe[0].value
    assert list(table["Device"]) == ["oxi-r1", "oxi-a1", "oxi-o1", "scale-g1"]  # offline first
    assert list(table.loc[0, ["Status", "Battery"]]) == ["offline", "🪫 8 % low"]
    form_inputs = [t for t in at.text_input if t.label == "Device id"]
    form_inputs[0].input("glu-new-1")
    next(s for s in at.selectbox if s.label == "Kind").set_value("glucometer")
    next(b for b in at.button if b.label == "Register").click().run()
    no_exceptions(at)
    assert "Device glu-new-1 registered." in page_text(at)
    assert "not linked" in list(at.dataframe[0].value.set_index("Device").loc[["glu-new-1"],
                                                                              "Patient"])

    at.selectbox(key="device_pick").set_value("glu-new-1")
    at.number_input(key="device_patient").set_value(seeded.green_patient)
    at.button(key="device_link").click().run()
    no_exceptions(at)
    assert at.dataframe[0].value.set_index("Device").loc["glu-new-1", "Patient"] == "TH-000001"

    at.selectbox(key="device_pick").set_value("glu-new-1")
    at.button(key="device_creds").click().run()
    no_exceptions(at)
    shown = [c.value for c in at.code]
    assert len(shown) == 1 and "username: glu-new-1" in shown[0] and "password: " in shown[0]
    with connect(db_url) as conn:
        row = conn.cursor(row_factory=dict_row).execute(
            "SELECT credential_hash FROM devices WHERE device_id = 'glu-new-1'").fetchone()
    assert row is not None and row["credential_hash"]
    at.run()  # any later view no longer shows the password
    assert not at.code


def _resolve_one(db_url: str, alert_id: int) -> None:
    with connect(db_url) as conn:
        conn.execute("UPDATE alerts SET status = 'resolved', acknowledged_at = first_breach_at "
                     "+ interval '12 minutes', resolved_at = first_breach_at + interval '1 hour', "
                     "outcome = 'advice-given' WHERE id = %s", (alert_id,))


def _figures(at: AppTest) -> list[dict[str, Any]]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def test_the_matron_sees_the_team_as_charts(app_test: AppTest, seeded: Seeded,
                                            db_url: str) -> None:
    _resolve_one(db_url, seeded.red_alert)
    at = sign_in(app_test, "matron.north")
    at.switch_page("views/team.py").run()
    no_exceptions(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Patients monitored"] == "3"
    figures = _figures(at)
    assert len(figures) == 5  # adherence, alert rates, time to acknowledge, outcomes, rules
    adherence, rates, ack, outcomes, rules = figures
    assert adherence["data"][0]["type"] == "indicator"
    assert 0 < adherence["data"][0]["value"] <= 100
    assert set(rates["data"][0]["y"]) == {"spo2-scale1-red", "spo2-scale1-amber"}
    assert "RED" in ack["data"][0]["x"]
    assert outcomes["data"][0]["y"] == ["advice given"]
    assert (rules["data"][0]["name"], rules["data"][0]["x"], rules["data"][0]["y"]) == (
        "led to action", ["spo2-scale1-red"], [1])   # advice given is an action


def test_a_manager_sees_team_figures_but_no_caseload(app_test: AppTest, seeded: Seeded,
                                                     db_url: str) -> None:
    with connect(db_url) as conn:
        add_staff(conn, "service.manager", "Service Manager", "manager")
    at = sign_in(app_test, "service.manager")
    no_exceptions(at)
    assert at.title[0].value == "Team view"
    assert [p for p in at.selectbox if p.label == "Team"]
    text = page_text(at)
    assert "Clegg" not in text and "Patricia" not in text


def test_an_admin_registers_a_fall_detector_and_the_nurse_sees_it_on_the_caseload(
        app_test: AppTest, seeded: Seeded, db_url: str) -> None:
    at = sign_in(app_test, "site.admin")
    next(t for t in at.text_input if t.label == "Device id").input("fall-g1")
    next(s for s in at.selectbox if s.label == "Kind").set_value("fall-detector")
    next(n for n in at.number_input if n.label == "Patient id (optional)").set_value(
        seeded.green_patient)
    next(b for b in at.button if b.label == "Register").click().run()
    no_exceptions(at)
    assert "Device fall-g1 registered." in page_text(at)
    table = at.dataframe[0].value.set_index("Device")
    assert list(table.loc[["fall-g1"], "Kind"]) == ["fall-detector"]
    with connect(db_url) as conn:
        row = conn.execute("SELECT kind::text AS kind, patient_id FROM devices "
                           "WHERE device_id = 'fall-g1'").fetchone()
    assert row == {"kind": "fall-detector", "patient_id": seeded.green_patient}
    nurse = sign_in(AppTest.from_file(app_test._script_path, default_timeout=30), "nurse.north")
    no_exceptions(nurse)
    devices = nurse.dataframe[0].value.set_index("Patient").loc[
        "Margaret Ashworth (TH-000001)", "Devices"]
    assert "fall-detector status unknown" in str(devices)


def test_an_admin_sees_a_devices_missing_and_refused_messages_with_reasons(
        app_test: AppTest, seeded: Seeded, db_url: str) -> None:
    with connect(db_url) as conn:
        conn.execute("INSERT INTO device_seq_gaps (device_id, expected_seq, received_seq) "
                     "SELECT id, 41, 44 FROM devices WHERE device_id = 'oxi-r1'")
        conn.execute("INSERT INTO rejected_messages (topic, device_id, reason_code, reason, "
                     "payload, payload_size, item_index) VALUES ('telehub/v1/devices/oxi-r1/"
                     "readings', 'oxi-r1', 'implausible-value', 'SpO2 140 % is not possible.', "
                     "convert_to('{\"metric\": \"spo2\", \"value\": 140}', 'UTF8'), 32, 1)")
    at = sign_in(app_test, "site.admin")
    at.selectbox(key="device_diagnose").set_value("oxi-r1").run()
    no_exceptions(at)
    text = page_text(at)
    assert "Sequence gaps: **3 messages missing**" in text
    assert "Refused messages: **1**" in text
    gaps = next(d.value for d in at.dataframe if "Missing" in d.value.columns)
    assert list(gaps.loc[0, ["Expected no.", "Arrived no.", "Missing"]]) == [41, 44, 3]
    refused = next(d.value for d in at.dataframe if "Reason" in d.value.columns)
    assert refused.loc[0, "Reason"] == "SpO2 140 % is not possible."
    assert refused.loc[0, "Reading in batch"] == 2
    assert refused.loc[0, "Sent (start)"] == '{"metric": "spo2", "value": 140}'

    at.selectbox(key="device_diagnose").set_value("scale-g1").run()
    assert "No gaps: every numbered message arrived." in page_text(at)
    assert "The hub has refused nothing from this device." in page_text(at)
