"""Patient page against the real API: header, charts with bands, ranges, readings, thresholds."""

from __future__ import annotations

from typing import Any

from psycopg.rows import dict_row
from streamlit.testing.v1 import AppTest

from telehub.db.pool import connect
from tests.dashboard.conftest import Seeded, Shared, no_exceptions, page_text, sign_in


def _open_patient(at: AppTest, patient_id: int) -> AppTest:
    at.selectbox(key="caseload_open").set_value(patient_id).run()
    at.button(key="caseload_open_button").click().run()
    no_exceptions(at)
    return at


def _frame(at: AppTest, column: str) -> Any:
    """The first table on the page with this column."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _charts(at: AppTest) -> list[dict[str, Any]]:
    import json

    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def test_opening_a_patient_from_the_caseload_shows_header_chart_and_readings(
        shared_app: AppTest, shared: Shared) -> None:
    at = _open_patient(sign_in(shared_app, "nurse.north"), shared.seeded.red_patient)
    assert at.title[0].value == "Patricia Clegg · TH-000003"
    text = page_text(at)
    assert "**Conditions** COPD" in text and "**Named nurse** Grace Okafor" in text
    assert "SpO2 (%) 2×/day" in text  # the care plan from the conditions
    # COPD plan: SpO2 and pulse twice a day; the oximeter sent SpO2 once a day, no pulse.
    assert "**Adherence, last 7 days:** 7 of 28 expected readings (25 %)" in text
    charts = _charts(at)
    assert len(charts) == 1
    spo2 = charts[0]
    assert spo2["data"][0]["y"][-1] == 89
    labels = [a["text"] for a in spo2["layout"]["annotations"]]
    assert "RED ≤ 91" in labels and "AMBER ≤ 93" in labels  # the patient's bands
    readings = _frame(at, "Value")
    assert list(readings["Value"])[:2] == ["89 %", "90 %"]  # newest first, with units
    assert "BST" in readings["Time"][0] or "GMT" in readings["Time"][0]
    timeline = _frame(at, "What happened")
    assert list(timeline["Alert"]) == ["spo2-scale1-red"]  # no episode of that id: as stored
    assert "**opened** by system" in page_text(at)  # the chosen alert's history


def test_a_year_is_drawn_from_daily_buckets(shared_app: AppTest, shared: Shared) -> None:
    at = _open_patient(sign_in(shared_app, "nurse.north"), shared.seeded.red_patient)
    range_picker: Any = at.get("button_group")[0]
    range_picker.set_value(365).run()
    no_exceptions(at)
    names = [t.get("name") for t in _charts(at)[0]["data"]]
    assert "daily mean" in names and "daily range (min–max)" in names
    assert list(_frame(at, "Day").columns) == ["Day", "Metric", "Min", "Mean", "Max",
                                               "Readings"]


def test_a_threshold_edit_is_saved_with_its_reason(app_test: AppTest, seeded: Seeded,
                                                   db_url: str) -> None:
    at = _open_patient(sign_in(app_test, "nurse.north"), seeded.red_patient)
    at.selectbox(key="threshold_rule").set_value("spo2-scale1-amber").run()
    at.text_input(key="threshold_spo2-scale1-amber_at_or_below").input("90")
    at.button(key="threshold_save").click().run()
    assert "Give the clinical reason" in page_text(at)  # no reason, nothing saved
    at.text_input(key="threshold_reason_spo2-scale1-amber").input(
        "COPD with usual saturation 90-92 %, agreed with respiratory team")
    at.button(key="threshold_save").click().run()
    no_exceptions(at)
    assert "Threshold for spo2-scale1-amber saved." in page_text(at)
    with connect(db_url) as conn:
        row = conn.cursor(row_factory=dict_row).execute(
            "SELECT params, reason, set_by_name FROM thresholds WHERE patient_id = %s "
            "AND rule_id = 'spo2-scale1-amber' AND superseded_at IS NULL",
            (seeded.red_patient,)).fetchone()
    assert row is not None
    assert row["params"]["at_or_below"] == 90
    assert row["reason"].startswith("COPD with usual saturation")
    assert row["set_by_name"] == "Grace Okafor"
    # The page now shows the individual value beside the default, and draws it.
    table = _frame(at, "Default").set_index("Rule")
    assert table.loc["spo2-scale1-amber", "Default"] == "at or below 93 %"
    assert table.loc["spo2-scale1-amber", "Individual"] == "at or below 90 %"
    assert table.loc["spo2-scale1-amber", "Reason"].startswith("COPD with usual saturation")
    labels = [a["text"] for a in _charts(at)[0]["layout"]["annotations"]]
    assert "AMBER ≤ 90 (individual)" in labels


def test_a_glucose_threshold_is_entered_in_mmol_with_its_unit_and_shown_with_it(
        app_test: AppTest, seeded: Seeded, db_url: str) -> None:
    with connect(db_url) as conn:
        conn.execute("UPDATE patients SET conditions = ARRAY['copd', 'type1-diabetes'] "
                     "WHERE id = %s", (seeded.red_patient,))
    at = _open_patient(sign_in(app_test, "nurse.north"), seeded.red_patient)
    table = _frame(at, "Default").set_index("Rule")
    assert table.loc["glucose-hypo-severe", "Default"] == "below 3.0 mmol/L (54 mg/dL)"
    at.selectbox(key="threshold_rule").set_value("glucose-hypo-severe").run()
    value = at.text_input(key="threshold_glucose-hypo-severe_below")
    unit = at.selectbox(key="threshold_unit_glucose-hypo-severe_below")
    assert value.value == "3" and unit.value == "mmol/L" and unit.options == ["mmol/L", "mg/dL"]
    at.text_input(key="threshold_reason_glucose-hypo-severe").input("Hypo unaware: act earlier")
    value.input("35").run()
    at.button(key="threshold_save").click().run()
    no_exceptions(at)
    assert "not a plausible low blood glucose limit" in page_text(at)   # refused, not saved
    at.text_input(key="threshold_glucose-hypo-severe_below").input("3.5").run()
    at.button(key="threshold_save").click().run()
    no_exceptions(at)
    assert "Threshold for glucose-hypo-severe saved." in page_text(at)
    with connect(db_url) as conn:
        rows = conn.cursor(row_factory=dict_row).execute(
            "SELECT params FROM thresholds WHERE patient_id = %s", (seeded.red_patient,)
        ).fetchall()
    assert len(rows) == 1 and abs(rows[0]["params"]["below"] - 63.056) < 1e-9
    table = _frame(at, "Default").set_index("Rule")
    assert table.loc["glucose-hypo-severe", "Individual"] == "below 3.5 mmol/L (63 mg/dL)"


def test_a_nurse_cannot_open_another_teams_patient(shared_app: AppTest, shared: Shared) -> None:
    at = sign_in(shared_app, "nurse.north")
    at.session_state["telehub_patient_id"] = shared.seeded.other_team_patient
    at.switch_page("views/patient.py").run()
    no_exceptions(at)
    assert "not in your team's caseload" in page_text(at)
    assert "Dewhurst" not in page_text(at)
