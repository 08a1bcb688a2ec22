"""Risk tiers and review flags on the caseload, team outcomes as charts and the MDT list,
against the real API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from psycopg.rows import dict_row
from streamlit.testing.v1 import AppTest

from dashboard.client import ApiClient, new_http
from telehub.db.pool import connect
from telehub.domain import clock
from telehub.domain.clock import FixedClock, use_clock
from tests.dashboard.conftest import (
    PASSWORD,
    Seeded,
    add_alert,
    add_staff,
    no_exceptions,
    page_text,
    seed,
    sign_in,
)
from tests.log_guard import LogGuard

RISK_CSV = ("nhs_number,score,tier,date\n"
            "9434765919,80,high,2026-11-01\n"       # the green patient
            "9434765889,40,moderate,2026-11-01\n")  # the red patient


@contextmanager
def _client(api_url: str, username: str) -> Iterator[ApiClient]:
    """The API over HTTP as `username`."""
    with new_http(api_url) as http:
        client = ApiClient(http)
        yield client.with_token(client.sign_in(username, PASSWORD).access_token)


def _patients(at: AppTest) -> list[str]:
    return [str(p) for p in at.dataframe[0].value["Patient"]]


def test_the_caseload_filters_and_sorts_by_risk_tier_and_flags_overdue_reviews(
        app_test: AppTest, seeded: Seeded, db_url: str, api_url: str) -> None:
    with _client(api_url, "matron.north") as client:
        result = client.import_risk_tiers(RISK_CSV)
    assert (result.imported, result.errors) == (2, [])
    with connect(db_url) as conn:
        conn.execute("INSERT INTO patient_care (patient_id, review_due) VALUES (%s, %s)",
                     (seeded.amber_patient, date.today() - timedelta(days=5)))
    at = sign_in(app_test, "nurse.north")
    no_exceptions(at)
    assert _patients(at) == ["Patricia Clegg (TH-000003)", "John Brierley (TH-000002)",
                             "Margaret Ashworth (TH-000001)"]  # triage order by default
    table = at.dataframe[0].value.set_index("Patient")
    assert table.loc["Margaret Ashworth (TH-000001)", "Risk tier"] == "high (score 80)"
    assert table.loc["John Brierley (TH-000002)", "Risk tier"] == "no tier"
    assert str(table.loc["John Brierley (TH-000002)", "Care-plan review"]).startswith(
        "⚠️ OVERDUE since")
    assert str(table.loc["John Brierley (TH-000002)", "Status"]).endswith("· ⚠️ review overdue")
    assert "review overdue" not in str(table.loc["Patricia Clegg (TH-000003)", "Status"])
    assert "1 care-plan reviews overdue" in page_text(at)

    at.selectbox(key="caseload_sort").set_value("risk").run()
    no_exceptions(at)
    assert _patients(at) == ["Margaret Ashworth (TH-000001)", "Patricia Clegg (TH-000003)",
                             "John Brierley (TH-000002)"]  # highest score first, none last
    at.multiselect(key="caseload_tiers").set_value(["high"]).run()
    assert _patients(at) == ["Margaret Ashworth (TH-000001)"]
    at.multiselect(key="caseload_tiers").set_value(["no tier"]).run()
    assert _patients(at) == ["John Brierley (TH-000002)"]
    at.multiselect(key="caseload_tiers").set_value([]).run()
    at.selectbox(key="caseload_sort").set_value("review").run()
    assert _patients(at)[0] == "John Brierley (TH-000002)"  # the only review date, overdue


def _figures(at: AppTest) -> list[dict[str, Any]]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


@pytest.fixture
def seeded_at_noon(db_url: str, log_guard: LogGuard) -> Iterator[Seeded]:
    """The test trust, seeded and seen at noon on today's London date: its red alert of an
    hour before is in this month and this week at whatever hour the suite runs."""
    noon = clock.day_start(clock.today()) + timedelta(hours=12)
    with use_clock(FixedClock(noon)):
        yield seed(db_url, log_guard)


def test_the_matron_sees_outcomes_as_charts_and_the_mdt_list(
        app_test: AppTest, seeded_at_noon: Seeded, db_url: str, api_url: str) -> None:
    seeded, today = seeded_at_noon, clock.today()
    with _client(api_url, "matron.north") as client:
        client.add_admission(seeded.red_patient, kind="emergency-admission",
                             started_on=today, hospital="St James's")
        client.acknowledge(seeded.red_alert, "Called the patient")  # an hour after it opened
        month = today.strftime("%Y-%m")
        expected = next(m for m in client.outcomes(seeded.team_id, month, month).months)
    assert expected.emergency_admissions == 1
    at = sign_in(app_test, "matron.north")
    at.switch_page("views/outcomes.py").run()
    no_exceptions(at)
    assert at.title[0].value == "Outcomes and MDT"
    admissions, readmissions, response = _figures(at)
    assert admissions["data"][0]["x"][-1] == today.strftime("%b %Y")
    assert admissions["layout"]["xaxis"]["type"] == "category"
    assert admissions["data"][0]["y"][-1] == expected.admissions_per_1000
    assert admissions["data"][0]["customdata"][-1] == 1  # the count, beside the rate
    assert readmissions["data"][1]["y"][-1] == 1  # the red alert preceded the admission
    assert response["data"][0]["name"] == "median"
    assert response["data"][0]["y"][-1] == expected.minutes_to_first_action_median
    assert expected.minutes_to_first_action_median == 60
    table = next(d.value for d in at.dataframe if "Month" in d.value.columns)
    assert list(table["Emergency admissions"])[-1] == 1
    mdt = next(d.value for d in at.dataframe if "Month" not in d.value.columns)
    assert "TH-000003" in mdt.to_csv()  # red alert and admission: on the MDT list
    assert "TH-000001" not in mdt.to_csv()  # the green patient is not
    download = [b for b in at.get("download_button")]
    assert len(download) == 1 and "MDT" in download[0].proto.label


def test_a_manager_sees_outcomes_but_not_the_mdt_list(app_test: AppTest, seeded: Seeded,
                                                      db_url: str) -> None:
    with connect(db_url) as conn:
        add_staff(conn, "service.manager", "Service Manager", "manager")
    at = sign_in(app_test, "service.manager")
    at.switch_page("views/outcomes.py").run()
    no_exceptions(at)
    assert len(_figures(at)) >= 2
    text = page_text(at)
    assert "only clinical staff can open it" in text
    assert "Clegg" not in text and "TH-000003" not in text
    assert not at.get("download_button")


def test_a_nurse_sees_the_follow_up_after_discharge_and_marks_it_done(
        app_test: AppTest, seeded: Seeded, db_url: str, api_url: str) -> None:
    with _client(api_url, "nurse.north") as client:
        stay = client.add_admission(seeded.red_patient, kind="emergency-admission",
                                    started_on=date.today() - timedelta(days=6))
        client.discharge(stay.id, date.today() - timedelta(days=4), follow_up_days=2)
    at = sign_in(app_test, "nurse.north")
    no_exceptions(at)
    tasks = _table_with(at, "Task")
    assert list(tasks["Patient"]) == ["TH-000003"]
    assert str(tasks["Due"][0]).startswith("⚠️ OVERDUE")  # due two days ago
    [task] = with_rows(db_url, "SELECT id FROM follow_up_tasks")
    at.selectbox(key="follow_up_pick").set_value(task["id"])
    at.text_input(key="follow_up_note").input("Phoned; settling at home")
    at.button(key="follow_up_done").click().run()
    no_exceptions(at)
    assert "Follow-up for TH-000003 marked done." in page_text(at)
    assert with_rows(db_url, "SELECT done_by, note FROM follow_up_tasks") == [
        {"done_by": "nurse.north", "note": "Phoned; settling at home"}]
    assert "No follow-ups after discharge are open." in page_text(at)
    assert not at.get("download_button")  # the MDT list is fetched only when asked for
    at.toggle(key="caseload_mdt_show").set_value(True).run()
    no_exceptions(at)
    assert "TH-000003" in _table_with(at, "display_id").to_csv()


# Monday 2 March 2026, 00:30 GMT: the MDT week shown by default is Tue 24 Feb to Mon 2 Mar.
MONDAY_HALF_PAST_MIDNIGHT = datetime(2026, 3, 2, 0, 30, tzinfo=UTC)


def test_a_monday_mdt_list_holds_the_weekends_red_alert_and_not_the_week_before(
        app_test: AppTest, seeded: Seeded, db_url: str) -> None:
    with connect(db_url) as conn:
        add_alert(conn, seeded.green_patient, seeded.team_id, "spo2-scale1-red", "red", "spo2",
                  "SpO2 89 %", datetime(2026, 2, 28, 21, 0, tzinfo=UTC), 89)
        add_alert(conn, seeded.amber_patient, seeded.team_id, "spo2-scale1-red", "red", "spo2",
                  "SpO2 88 %", datetime(2026, 2, 23, 23, 59, tzinfo=UTC), 88)
    with use_clock(FixedClock(MONDAY_HALF_PAST_MIDNIGHT)):
        at = sign_in(app_test, "nurse.north")
        at.toggle(key="caseload_mdt_show").set_value(True).run()
        no_exceptions(at)
        assert "The 7 days Tue 24 Feb to Mon 02 Mar 2026" in page_text(at)
        listed = _table_with(at, "display_id")
        assert list(listed["display_id"]) == ["TH-000001"]
        assert list(listed["reasons"]) == ["1 red alert(s)"]


def test_the_matron_imports_risk_tiers_and_admissions_and_sees_refused_rows(
        app_test: AppTest, seeded: Seeded, db_url: str) -> None:
    at = sign_in(app_test, "matron.north")
    at.switch_page("views/outcomes.py").run()
    at.text_area(key="risk_import_text").input(
        "nhs_number,score,tier,date\n9434765919,80,high,2026-11-01\n1234567890,50,low,"
        "2026-11-01\n")
    at.button(key="risk_import_go").click().run()
    no_exceptions(at)
    assert "Imported 1 of 2 rows; 0 already present; 1 refused." in page_text(at)
    refused = _table_with(at, "Problem")
    assert list(refused["Row"]) == [2]
    assert with_rows(db_url, "SELECT tier, score FROM risk_scores") == [
        {"tier": "high", "score": 80.0}]

    at.text_area(key="admissions_import_text").input(
        "nhs_number,kind,started_on,discharged_on,hospital,reason\n"
        f"9434765870,ae-attendance,{date.today().isoformat()},,St James's,Chest pain\n")
    at.button(key="admissions_import_go").click().run()
    no_exceptions(at)
    assert "Imported 1 of 1 rows; 0 already present; 0 refused." in page_text(at)
    assert with_rows(db_url, "SELECT kind, source, hospital FROM hospital_episodes") == [
        {"kind": "ae-attendance", "source": "import", "hospital": "St James's"}]


def with_rows(db_url: str, query: str) -> list[dict[str, Any]]:
    """Rows of a query on the test's database."""
    with connect(db_url) as conn:
        return list(conn.cursor(row_factory=dict_row).execute(query).fetchall())


def _table_with(at: AppTest, column: str) -> Any:
    """The first table on the page with this column."""
    return next(d.value for d in at.dataframe if column in d.value.columns)
