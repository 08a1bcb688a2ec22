"""Sign-in page: username and password against the API; the token stays in this session."""

from __future__ import annotations

import streamlit as st

from dashboard.client import ApiError, Invalid, ServiceUnavailable, Unauthorized, session
from dashboard.components.text import escape_markdown


def render() -> None:
    """The sign-in form."""
    st.title("Telehub")
    st.caption("Home telehealth monitoring for community nursing teams.")
    notice = st.session_state.pop(session.NOTICE_KEY, None)
    if notice:
        st.info(notice)
    with st.form("signin"):
        username = st.text_input("Username", key="signin_username")
        password = st.text_input("Password", type="password", key="signin_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if not submitted:
        st.caption("In the demo, `telehub demo` prints the seeded users' sign-ins.")
        return
    if not username.strip() or not password:
        st.error("Enter your username and password.")
        return
    client = session.anonymous_api()
    try:
        token = client.sign_in(username.strip().lower(), password)
        staff = client.with_token(token.access_token).me()
    except (Unauthorized, Invalid):
        st.error("That username and password do not match an active account.")
        return
    except ServiceUnavailable as err:
        st.error(f"**Service unavailable.** {escape_markdown(err.message)}", icon="⚠️")
        return
    except ApiError as err:
        st.error(f"Sign-in failed: {escape_markdown(err.message)}")
        return
    session.sign_in(token.access_token, staff)
    st.rerun()


render()
