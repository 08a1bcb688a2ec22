""""Today" on the dashboard is the service zone's date (Europe/London), whatever the machine's
zone: at 00:30 BST the UTC date is still yesterday, but a nurse's day has begun."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from streamlit.testing.v1 import AppTest

from dashboard.client.care import CarePatient
from dashboard.client.patients import CaseloadRow
from dashboard.components.caseload_table import caseload_frame
from telehub.db.pool import connect
from telehub.domain.clock import FixedClock, use_clock
from tests.dashboard.conftest import Seeded, no_exceptions, page_text, sign_in

# 23:30 UTC on 1 June 2027 is 00:30 BST on 2 June: the London date is 2 June.
HALF_PAST_MIDNIGHT_BST = datetime(2027, 6, 1, 23, 30, tzinfo=UTC)
LONDON_DAY = date(2027, 6, 2)
UTC_DAY = date(2027, 6, 1)


def _frame(at: AppTest, column: str) -> Any:
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_follow_ups_and_reviews_due_on_the_london_date_are_due_today_at_half_past_midnight(
        app_test: AppTest, seeded: Seeded, db_url: str) -> None:
    with connect(db_url) as conn:
        conn.execute("INSERT INTO follow_up_tasks (patient_id, title, due_on) "
                     "VALUES (%s, 'Call after discharge', %s)", (seeded.red_patient, LONDON_DAY))
        conn.execute("INSERT INTO patient_care (patient_id, review_due) VALUES (%s, %s), (%s, %s)",
                     (seeded.red_patient, LONDON_DAY, seeded.amber_patient, UTC_DAY))
    with use_clock(FixedClock(HALF_PAST_MIDNIGHT_BST)):
        at = sign_in(app_test, "nurse.north")
        no_exceptions(at)
        assert list(_frame(at, "Task")["Due"]) == ["due today"]
        reviews = dict(zip(_frame(at, "Care-plan review")["Patient"],
                           _frame(at, "Care-plan review")["Care-plan review"], strict=True))
        assert reviews["Patricia Clegg (TH-000003)"] == "due today"
        # Due on 1 June, the UTC date: yesterday for the nurse, so overdue.
        assert reviews["John Brierley (TH-000002)"] == "⚠️ OVERDUE since 01 Jun 2027"
        at.selectbox(key="caseload_open").set_value(seeded.red_patient).run()
        at.button(key="caseload_open_button").click().run()
        no_exceptions(at)
        assert "**Review due today (02 Jun 2027)**" in page_text(at)


def test_the_caseload_judges_reviews_on_the_london_date_of_now() -> None:
    row = CaseloadRow(patient_id=1, display_id="TH-000001", given_name="A", family_name="B",
                      status="active", triage="ok", age=80)
    care = CarePatient(patient_id=1, display_id="TH-000001", name="A B", team_id=1,
                       status="active", review_due=UTC_DAY, review_overdue=False)
    frame = caseload_frame([row], HALF_PAST_MIDNIGHT_BST, care={1: care})
    assert frame.loc[0, "Care-plan review"] == "⚠️ OVERDUE since 01 Jun 2027"
    assert frame.loc[0, "Status"].endswith("· ⚠️ review overdue")
