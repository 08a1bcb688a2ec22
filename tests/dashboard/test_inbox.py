"""Alert inbox against the real API: order, actions with notes change the database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from psycopg.rows import dict_row
from streamlit.testing.v1 import AppTest

from telehub.db.pool import connect
from tests.dashboard.conftest import (
    Seeded,
    Shared,
    add_alert,
    no_exceptions,
    page_text,
    sign_in,
)


def _inbox(at: AppTest, username: str = "nurse.north") -> AppTest:
    sign_in(at, username)
    at.switch_page("views/alerts.py").run()
    no_exceptions(at)
    return at


def _alert(db_url: str, alert_id: int) -> dict[str, Any]:
    with connect(db_url) as conn:
        cur = conn.cursor(row_factory=dict_row)
        row = cur.execute("SELECT status::text AS status, outcome::text AS outcome, "
                          "assignee_id FROM alerts WHERE id = %s", (alert_id,)).fetchone()
        events = cur.execute("SELECT kind, actor, note FROM alert_events WHERE alert_id = %s "
                             "ORDER BY id", (alert_id,)).fetchall()
    assert row is not None
    return {**row, "events": events}


def test_open_alerts_are_worst_first_with_the_reason(shared_app: AppTest, shared: Shared) -> None:
    at = _inbox(shared_app)
    headings = [m.value for m in at.markdown if str(m.value).startswith("**")
                and "spo2-scale1" in str(m.value)]
    assert len(headings) == 2
    assert "RED" in headings[0] and "Patricia Clegg (TH-000003)" in headings[0]
    assert "AMBER" in headings[1] and "TH-000002" in headings[1]
    assert "at or below the red limit of 91 %: urgent review" in page_text(at)


def test_alert_headers_name_the_episode_in_words(app_test: AppTest, seeded: Seeded,
                                                 db_url: str) -> None:
    """Headers say "Low blood glucose", never the episode's id "glucose-low"."""
    with connect(db_url) as conn:
        add_alert(conn, seeded.green_patient, seeded.team_id, "glucose-low", "amber", "glucose",
                  "Blood glucose 3.6 mmol/L is below 4.0 mmol/L.", datetime.now(UTC), 3.6)
        add_alert(conn, seeded.amber_patient, seeded.team_id, "spo2-low", "red", "spo2",
                  "SpO2 90 % is at or below 91 %.", datetime.now(UTC), 90)
    at = _inbox(app_test)
    headings = [str(m.value) for m in at.markdown if str(m.value).startswith("**")]
    assert any("Low blood glucose" in h and "Margaret Ashworth" in h for h in headings)
    assert any("Low oxygen saturation" in h and "John Brierley" in h for h in headings)
    assert not any("glucose-low" in h or "spo2-low" in h for h in headings)


def test_acknowledging_from_the_inbox_changes_the_alert_in_the_database(
        app_test: AppTest, seeded: Seeded, db_url: str) -> None:
    at = _inbox(app_test)
    alert = seeded.red_alert
    at.text_input(key=f"note_{alert}").input("Phoned patient, visiting at 14:00")
    at.button(key=f"save_{alert}").click().run()
    no_exceptions(at)
    assert f"Acknowledge saved for alert {alert}." in page_text(at)
    stored = _alert(db_url, alert)
    assert stored["status"] == "acknowledged"
    assert {"kind": "acknowledged", "actor": "nurse.north",
            "note": "Phoned patient, visiting at 14:00"} in stored["events"]
    # The card now says so, and its history shows the note.
    at.toggle(key=f"history_{alert}").set_value(True).run()
    assert "Phoned patient, visiting at 14:00" in page_text(at)


def test_resolving_needs_an_outcome_and_then_moves_to_history(
        app_test: AppTest, seeded: Seeded, db_url: str) -> None:
    at = _inbox(app_test)
    alert = seeded.red_alert
    at.selectbox(key=f"action_{alert}").set_value("Resolve").run()
    at.button(key=f"save_{alert}").click().run()
    assert "Choose the outcome before resolving." in page_text(at)
    assert _alert(db_url, alert)["status"] == "open"
    at.selectbox(key=f"outcome_{alert}").set_value("visit-arranged")
    at.text_input(key=f"note_{alert}").input("District nurse visit booked")
    at.button(key=f"save_{alert}").click().run()
    no_exceptions(at)
    stored = _alert(db_url, alert)
    assert (stored["status"], stored["outcome"]) == ("resolved", "visit-arranged")
    assert "**visit arranged**" in page_text(at)  # in the resolved history, in words


def test_assigning_offers_the_teams_staff(app_test: AppTest, seeded: Seeded,
                                          db_url: str) -> None:
    at = _inbox(app_test)
    alert = seeded.red_alert
    at.selectbox(key=f"action_{alert}").set_value("Assign").run()
    picker = at.selectbox(key=f"assignee_{alert}")
    assert "Ruth Calder (matron)" in picker.options
    picker.set_value(seeded.matron_id)
    at.button(key=f"save_{alert}").click().run()
    no_exceptions(at)
    assert _alert(db_url, alert)["assignee_id"] == seeded.matron_id
    assert "assigned to Ruth Calder (matron)" in page_text(at)


def test_open_patient_goes_from_the_alert_to_the_patient_page(shared_app: AppTest,
                                                              shared: Shared) -> None:
    at = _inbox(shared_app)
    at.button(key=f"open_{shared.seeded.red_alert}").click().run()
    no_exceptions(at)
    assert at.title[0].value == "Patricia Clegg · TH-000003"


def test_a_long_inbox_draws_25_cards_then_more_on_request(app_test: AppTest, seeded: Seeded,
                                                          db_url: str) -> None:
    from datetime import UTC, datetime, timedelta

    from tests.dashboard.conftest import add_alert

    with connect(db_url) as conn:
        for i in range(28):
            add_alert(conn, seeded.green_patient, seeded.team_id, f"weight-test-{i}", "info",
                      "weight", f"Weight test alert {i}.",
                      datetime.now(UTC) - timedelta(hours=5, minutes=i), 81)
    at = _inbox(app_test)

    def cards() -> int:
        return sum(1 for m in at.markdown if str(m.value).startswith("**")
                   and " · open" in str(m.value))

    assert cards() == 25
    assert "30 of 30 open or acknowledged alerts" in page_text(at)
    at.button(key="inbox_more").click().run()
    no_exceptions(at)
    assert cards() == 30
