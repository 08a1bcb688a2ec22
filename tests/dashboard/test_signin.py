"""Sign-in and sign-out against the real API."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.dashboard.conftest import Shared, no_exceptions, page_text, sign_in


def test_a_nurse_signs_in_and_lands_on_the_caseload(shared_app: AppTest, shared: Shared) -> None:
    at = sign_in(shared_app, "nurse.north")
    no_exceptions(at)
    assert "Signed in as **Grace Okafor**" in page_text(at)
    assert at.title[0].value == "Caseload"


def test_a_wrong_password_is_refused_with_a_clear_message(shared_app: AppTest,
                                                          shared: Shared) -> None:
    at = sign_in(shared_app, "nurse.north", "not-the-password")
    no_exceptions(at)
    assert "do not match an active account" in page_text(at)
    assert "telehub_token" not in at.session_state


def test_signing_out_forgets_the_token(shared_app: AppTest, shared: Shared) -> None:
    at = sign_in(shared_app, "nurse.north")
    token = at.session_state["telehub_token"]
    next(b for b in at.sidebar.button if b.label == "Sign out").click()
    at.run()
    no_exceptions(at)
    assert "telehub_token" not in at.session_state
    assert "You have signed out." in page_text(at)
    # The API revoked it too: the old token no longer works.
    import httpx

    from telehub.config import get_settings

    me = httpx.get(f"{get_settings().api_url}/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401
