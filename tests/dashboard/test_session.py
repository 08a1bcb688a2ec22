"""What the dashboard does when the session ends or the API goes away."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from telehub.config import get_settings
from telehub.db.pool import connect
from tests.dashboard.conftest import (
    Seeded,
    Shared,
    add_staff,
    free_port,
    no_exceptions,
    page_text,
    sign_in,
)


def test_a_revoked_token_sends_the_user_back_to_sign_in(app_test: AppTest, seeded: Seeded,
                                                        db_url: str) -> None:
    at = sign_in(app_test, "nurse.north")
    assert at.title[0].value == "Caseload"
    with connect(db_url) as conn:
        conn.execute("UPDATE api_tokens SET revoked_at = now()")
    import streamlit as st

    st.cache_data.clear()
    at.run()
    no_exceptions(at)
    assert "telehub_token" not in at.session_state
    assert at.title[0].value == "Telehub"  # the sign-in page
    assert "Your session has ended. Please sign in again." in page_text(at)


def test_an_api_that_goes_away_shows_one_clear_banner(shared_app: AppTest, shared: Shared,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    at = sign_in(shared_app, "nurse.north")
    monkeypatch.setenv("TELEHUB_API_URL", f"http://127.0.0.1:{free_port()}")
    get_settings.cache_clear()
    import streamlit as st

    st.cache_data.clear()
    at.run()
    no_exceptions(at)
    assert [e.value for e in at.error] == [
        "**Service unavailable.** The Telehub service cannot be reached just now. "
        "Try again in a minute."]
    assert "telehub_token" in at.session_state  # still signed in for when it comes back


def test_a_responder_gets_the_inbox_with_acknowledge_and_escalate_only(
        app_test: AppTest, seeded: Seeded, db_url: str) -> None:
    with connect(db_url) as conn:
        add_staff(conn, "response.centre", "Telecare Response Centre", "responder")
    at = sign_in(app_test, "response.centre")
    assert at.title[0].value == "Responder queue"  # their home page; the inbox is beside it
    at.switch_page("views/alerts.py").run()
    no_exceptions(at)
    assert at.title[0].value == "Alert inbox"
    actions = at.selectbox(key=f"action_{seeded.red_alert}")
    assert list(actions.options) == ["Acknowledge", "Escalate", "Add note"]
    text = page_text(at)
    assert "TH-000003" in text  # the red alert is routed to responders
    assert "Clegg" not in text  # by display id: responders get the minimum context
    at.toggle(key=f"history_{seeded.red_alert}").set_value(True).run()
    no_exceptions(at)
    assert ("**Visit** TH-000003: 12 Aire Street, LS1 4AB · key contact 0113 496 0000"
            in page_text(at))
    assert "**opened** by system" in page_text(at)
    assert "spo2-scale1-amber" not in text  # amber stays with the nursing team
