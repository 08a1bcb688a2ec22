"""The signed-in session: the API client with the user's token, who is signed in, and how a page
handles the API's refusals.

Pages call `api()` for the client and wrap their work in `handling_errors()`, so a 401
sends the user back to sign-in and an unavailable API shows one clear banner.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import httpx
import streamlit as st

from dashboard.client.api import ApiClient
from dashboard.client.errors import (
    ApiError,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
)
from dashboard.client.staff import Staff
from dashboard.client.transport import new_http
from dashboard.components.text import escape_markdown
from telehub.config import Settings, get_settings

TOKEN_KEY = "telehub_token"  # noqa: S105 - a session-state key, not a secret
STAFF_KEY = "telehub_staff"
NOTICE_KEY = "telehub_signin_notice"
PATIENT_KEY = "telehub_patient_id"

T = TypeVar("T")


def settings() -> Settings:
    """The dashboard's settings (API URL, display timezone)."""
    return get_settings()


@st.cache_resource(show_spinner=False)
def _http(base_url: str) -> httpx.Client:
    return new_http(base_url)


def anonymous_api() -> ApiClient:
    """The API without a token (for signing in)."""
    return ApiClient(_http(settings().api_url))


def token() -> str | None:
    """The signed-in user's bearer token, if any."""
    value = st.session_state.get(TOKEN_KEY)
    return str(value) if value else None


def need_token() -> str:
    """The signed-in user's bearer token; Unauthorized when no one is signed in."""
    value = token()
    if value is None:
        raise Unauthorized(401, "Please sign in.")
    return value


def api() -> ApiClient:
    """The API as the signed-in user; Unauthorized when no one is signed in."""
    return anonymous_api().with_token(need_token())


def current_staff() -> Staff | None:
    """Who is signed in."""
    staff = st.session_state.get(STAFF_KEY)
    return staff if isinstance(staff, Staff) else None


def sign_in(access_token: str, staff: Staff) -> None:
    """Keep the token and the user in this browser session only."""
    st.session_state[TOKEN_KEY] = access_token
    st.session_state[STAFF_KEY] = staff


def sign_out(notice: str | None = None) -> None:
    """Forget the token and everything read with it."""
    for key in (TOKEN_KEY, STAFF_KEY, PATIENT_KEY):
        st.session_state.pop(key, None)
    if notice:
        st.session_state[NOTICE_KEY] = notice


@contextmanager
def handling_errors(*, soft: bool = False) -> Iterator[None]:
    """401: back to sign-in; API down: one banner; any other refusal: say so and stop.

    With `soft`, refusals other than 401/unavailable are left to the caller, which says
    what was wrong beside the action that caused it and goes on drawing the page."""
    try:
        yield
    except Unauthorized as err:
        sign_out(err.message)
        st.rerun(scope="app")
    except ServiceUnavailable as err:
        st.error(f"**Service unavailable.** {escape_markdown(err.message)}", icon="⚠️")
        st.stop()
    except ApiError as err:
        if soft:
            raise
        _refused(err)


def read_or_warn(read: Callable[[], T], failure: str) -> T | None:
    """`read()`, or None after a warning ('<failure>: <the API's words>'): the rest of the
    page still shows when one section cannot be loaded."""
    try:
        with handling_errors(soft=True):
            return read()
    except ApiError as err:
        st.warning(f"{failure}: {escape_markdown(err.message)}")
        return None


def _refused(err: ApiError) -> None:
    if isinstance(err, Forbidden):
        st.warning("Your role does not give access to this page.", icon="🔒")
    elif isinstance(err, NotFound):
        st.warning("That record was not found, or it is not in your team's caseload.",
                   icon="🔎")
    else:
        st.error(f"The service could not answer: {escape_markdown(err.message)}", icon="⚠️")
    st.stop()


def clear_reads() -> None:
    """Forget cached reads after a change, so the next view shows it."""
    st.cache_data.clear()
