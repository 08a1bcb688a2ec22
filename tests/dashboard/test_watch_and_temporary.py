"""The dashboard's watch action and temporary thresholds against the real API: a watch saved
from the inbox changes the database and moves the alert to the Watched tab; stopping it brings
it back with what happened; a temporary threshold is set on the patient page and shown with
its end there and on the caseload."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.rows import dict_row
from streamlit.testing.v1 import AppTest

from dashboard.client import session
from dashboard.components.times import format_local
from telehub.db.pool import connect
from telehub.domain import clock
from tests.dashboard.conftest import Seeded, no_exceptions, page_text, sign_in

REASON = "Known COPD exacerbation, rescue pack started"


def _inbox(at: AppTest) -> AppTest:
    sign_in(at, "nurse.north")
    at.switch_page("views/alerts.py").run()
    no_exceptions(at)
    return at


def _stored(db_url: str, alert_id: int) -> dict[str, Any]:
    with connect(db_url) as conn:
        cur = conn.cursor(row_factory=dict_row)
        row = cur.execute("SELECT status::text AS status, watch_until, watch_reason FROM alerts "
                          "WHERE id = %s", (alert_id,)).fetchone()
        kinds = [r["kind"] for r in cur.execute(
            "SELECT kind FROM alert_events WHERE alert_id = %s ORDER BY id", (alert_id,))]
    assert row is not None
    return {**row, "kinds": kinds}


def _save(at: AppTest, alert: int, action: str, note: str = "", **picks: Any) -> None:
    at.selectbox(key=f"action_{alert}").set_value(action).run()
    for key, value in picks.items():
        at.selectbox(key=f"{key}_{alert}").set_value(value)
    at.text_input(key=f"note_{alert}").input(note)
    at.button(key=f"save_{alert}").click().run()
    no_exceptions(at)


def test_a_nurse_watches_a_reviewed_alert_from_the_inbox(app_test: AppTest, seeded: Seeded,
                                                         db_url: str) -> None:
    at = _inbox(app_test)
    alert = seeded.red_alert
    _save(at, alert, "Watch", REASON, watch_for="4 hours")
    assert f"Acknowledge alert {alert} first" in page_text(at)       # not reviewed yet
    assert _stored(db_url, alert)["watch_until"] is None
    _save(at, alert, "Acknowledge")
    _save(at, alert, "Watch", REASON)
    assert "Choose how long to watch the alert." in page_text(at)
    _save(at, alert, "Watch", "", watch_for="4 hours")
    assert "Say why you are watching it" in page_text(at)
    before = clock.now()
    _save(at, alert, "Watch", REASON, watch_for="4 hours")
    assert f"Watch saved for alert {alert}." in page_text(at)
    stored = _stored(db_url, alert)
    assert stored["status"] == "acknowledged" and stored["watch_reason"] == REASON
    assert before + timedelta(hours=4) <= stored["watch_until"] <= clock.now() + timedelta(
        hours=4)
    assert stored["kinds"][-1] == "watch-started"
    # The card is in the Watched tab, saying until when, why and what it has seen.
    headings = [str(m.value) for m in at.markdown if "WATCHED until" in str(m.value)]
    assert len(headings) == 1 and "Patricia Clegg" in headings[0]
    watching = [str(i.value) for i in at.info if str(i.value).startswith("Watching until")]
    assert watching and REASON in watching[0]
    assert "no reading breached the rule meanwhile" in watching[0]
    assert any(t.label == "Watched (1)" for t in at.tabs)
    # The team's reminder setting is the matron's, not the nurse's.
    assert not [c for c in at.checkbox if str(c.key).startswith("reminders_on_")]


def test_stopping_a_watch_brings_the_alert_back_with_what_happened(
        app_test: AppTest, seeded: Seeded, db_url: str) -> None:
    alert = seeded.red_alert
    now = datetime.now(UTC)
    with connect(db_url) as conn:
        conn.execute("UPDATE alerts SET status = 'acknowledged', acknowledged_at = %s, "
                     "watch_until = %s, watch_started_at = %s, watch_reason = %s, "
                     "values = values || %s::jsonb WHERE id = %s",
                     (now, now + timedelta(hours=8), now, REASON,
                      '{"watch": {"occurrences": 2, "rules": ["spo2-scale1-red"], '
                      '"worst": {"shown": "88 % at 09:10 on 26 Nov 2026"}}}', alert))
    at = _inbox(app_test)
    _save(at, alert, "Stop watching")
    assert f"Stop watching saved for alert {alert}." in page_text(at)
    stored = _stored(db_url, alert)
    assert (stored["status"], stored["watch_until"]) == ("open", None)
    assert stored["kinds"][-1] == "watch-ended"
    back = [str(i.value).replace("\\", "") for i in at.info
            if str(i.value).startswith("Back in the inbox")]
    assert back and "its watch was stopped" in back[0]
    assert "2 readings breached the rule meanwhile; worst 88 % at 09:10" in back[0]


def test_a_temporary_threshold_is_set_and_shown_with_its_end(app_test: AppTest, seeded: Seeded,
                                                              db_url: str) -> None:
    at = sign_in(app_test, "nurse.north")
    at.session_state[session.PATIENT_KEY] = seeded.red_patient
    at.switch_page("views/patient.py").run()
    no_exceptions(at)
    at.selectbox(key="threshold_rule").set_value("spo2-scale1-amber").run()
    at.text_input(key="threshold_spo2-scale1-amber_at_or_below").input("90")
    at.checkbox(key="threshold_temporary_spo2-scale1-amber").check().run()
    last_day = clock.today() + timedelta(days=14)
    assert at.date_input(key="threshold_until_spo2-scale1-amber").value == last_day
    at.text_input(key="threshold_reason_spo2-scale1-amber").input(
        "After this exacerbation, for 14 days")
    at.button(key="threshold_save").click().run()
    no_exceptions(at)
    shown = f"until {last_day.day} {last_day:%b}"
    assert f"Threshold for spo2-scale1-amber saved {shown}." in page_text(at)
    with connect(db_url) as conn:
        row = conn.cursor(row_factory=dict_row).execute(
            "SELECT params, ends_at FROM thresholds WHERE patient_id = %s",
            (seeded.red_patient,)).fetchone()
    assert row is not None and row["params"] == {"at_or_below": 90}
    assert row["ends_at"] == clock.day_start(last_day + timedelta(days=1))
    assert f"Temporary threshold: spo2-scale1-amber at or below 90 % {shown}" in page_text(at)
    table = next(e for e in at.dataframe if "Until" in e.value.columns).value.set_index("Rule")
    assert table.loc["spo2-scale1-amber", "Until"] == shown
    # The caseload says so too, while it lasts.
    at.switch_page("views/caseload.py").run()
    no_exceptions(at)
    frame = at.dataframe[0].value.set_index("Patient")
    assert frame.loc["Patricia Clegg (TH-000003)", "Thresholds"] == \
        f"spo2-scale1-amber {shown}"
    assert frame.loc["John Brierley (TH-000002)", "Thresholds"] == ""


def test_a_matron_sets_the_teams_reminders_from_the_inbox(app_test: AppTest, seeded: Seeded,
                                                          db_url: str) -> None:
    def stored() -> int | None:
        with connect(db_url) as conn:
            row = conn.cursor(row_factory=dict_row).execute(
                "SELECT red_reminder_minutes AS m FROM teams WHERE id = %s",
                (seeded.team_id,)).fetchone()
        assert row is not None
        return row["m"]

    at = sign_in(app_test, "matron.north")
    at.switch_page("views/alerts.py").run()
    no_exceptions(at)
    team = seeded.team_id
    assert at.checkbox(key=f"reminders_on_{team}").value is True
    assert at.number_input(key=f"reminders_minutes_{team}").value == 30
    at.number_input(key=f"reminders_minutes_{team}").set_value(15)
    at.button(key=f"reminders_save_{team}").click().run()
    no_exceptions(at)
    assert "Reminders every 15 minutes saved." in page_text(at)
    assert stored() == 15
    at.checkbox(key=f"reminders_on_{team}").uncheck()
    at.button(key=f"reminders_save_{team}").click().run()
    no_exceptions(at)
    assert "Reminders switched off." in page_text(at) and stored() is None


def test_the_patient_page_says_an_alert_is_watched(app_test: AppTest, seeded: Seeded,
                                                   db_url: str) -> None:
    now = datetime.now(UTC)
    with connect(db_url) as conn:
        conn.execute("UPDATE alerts SET status = 'acknowledged', watch_until = %s, "
                     "watch_started_at = %s, watch_reason = %s WHERE id = %s",
                     (now + timedelta(hours=8), now, REASON, seeded.red_alert))
    at = sign_in(app_test, "nurse.north")
    at.session_state[session.PATIENT_KEY] = seeded.red_patient
    at.switch_page("views/patient.py").run()
    no_exceptions(at)
    table = next(e for e in at.dataframe if "What happened" in e.value.columns).value
    assert list(table["Status"]) == ["acknowledged · watched until " + format_local(
        now + timedelta(hours=8), session.settings().zone)]
