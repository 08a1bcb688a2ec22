"""Caseload page against the real API: triage order, filters, words beside colours, team scope."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from streamlit.testing.v1 import AppTest

from telehub.db.pool import connect
from telehub.domain.patients import age_on
from tests.dashboard.conftest import Seeded, Shared, add_alert, no_exceptions, page_text, sign_in


def _table(at: AppTest) -> list[dict[str, object]]:
    frame = at.dataframe[0].value
    return list(frame.to_dict("records"))


def test_caseload_lists_red_then_amber_then_the_rest(shared_app: AppTest, shared: Shared) -> None:
    at = sign_in(shared_app, "nurse.north")
    no_exceptions(at)
    rows = _table(at)
    assert [r["Patient"] for r in rows] == [
        "Patricia Clegg (TH-000003)", "John Brierley (TH-000002)", "Margaret Ashworth (TH-000001)"]
    assert [str(r["Status"]).split(" ·")[0] for r in rows] == ["🔴 RED", "🟠 AMBER", "🟢 GREEN"]
    red = rows[0]
    today = datetime.now(ZoneInfo("Europe/London")).date()
    assert red["Age"] == str(age_on(date(1944, 5, 17), today))  # as seeded
    assert str(red["spo2"]).startswith("89 % · ")
    assert red["spo2_trend"][-1] == 89  # type: ignore[index]
    assert red["Open alerts"] == "1 red"
    assert "oximeter online" in str(red["Devices"]) and "76 %" in str(red["Devices"])
    assert "3 patients · 1 RED" in page_text(at)


def test_a_nurse_never_sees_another_teams_patient(shared_app: AppTest, shared: Shared) -> None:
    at = sign_in(shared_app, "nurse.north")
    assert all("Dewhurst" not in str(r["Patient"]) for r in _table(at))
    other = sign_in(AppTest.from_file(shared_app._script_path, default_timeout=30), "nurse.south")
    assert [r["Patient"] for r in _table(other)] == ["David Dewhurst (TH-000004)"]


def test_filters_and_my_patients_narrow_the_list(shared_app: AppTest, shared: Shared) -> None:
    at = sign_in(shared_app, "nurse.north")
    at.text_input(key="caseload_search").input("brier").run()
    assert [r["Patient"] for r in _table(at)] == ["John Brierley (TH-000002)"]
    at.text_input(key="caseload_search").input("").run()
    at.multiselect(key="caseload_conditions").select("heart-failure").run()
    assert [r["Patient"] for r in _table(at)] == ["Margaret Ashworth (TH-000001)"]
    at.multiselect(key="caseload_conditions").unselect("heart-failure").run()
    at.radio(key="caseload_scope").set_value("My patients").run()
    # Grace is the named nurse of Patricia and Margaret, not of John.
    assert [r["Patient"] for r in _table(at)] == [
        "Patricia Clegg (TH-000003)", "Margaret Ashworth (TH-000001)"]
    at.text_input(key="caseload_search").input("nobody").run()
    no_exceptions(at)
    assert "No patient matches these filters" in page_text(at)


def test_a_new_red_alert_shows_on_the_next_refresh(app_test: AppTest, seeded: Seeded,
                                                   db_url: str) -> None:
    at = sign_in(app_test, "nurse.north")
    assert str(_table(at)[2]["Status"]).startswith("🟢 GREEN")
    with connect(db_url) as conn:
        add_alert(conn, seeded.green_patient, seeded.team_id, "pulse-red", "red", "pulse",
                  "Pulse 135 /min is at or above the red limit of 131 /min.",
                  datetime.now(UTC) - timedelta(minutes=1), 135)
    import streamlit as st

    st.cache_data.clear()  # what the 10 s cache expiry does before the 30 s refresh
    at.run()
    rows = _table(at)
    assert str(rows[0]["Status"]).startswith("🔴 RED")
    assert {str(rows[0]["Patient"]), str(rows[1]["Patient"])} == {
        "Patricia Clegg (TH-000003)", "Margaret Ashworth (TH-000001)"}
