"""The signed-in session: the API client with the user's token, cached reads, and error handling.

Pages call `api()` for the client and wrap their work in `handling_errors()`, so a 401
sends the user back to sign-in and an unavailable API shows one clear banner.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime

import httpx
import streamlit as st

from dashboard.care_models import CarePatient
from dashboard.client import (
    ApiClient,
    ApiError,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
)
from dashboard.models import Caseload, Patient, Readings, Staff, Threshold
from telehub.config import Settings, get_settings

TOKEN_KEY = "telehub_token"  # noqa: S105 - a session-state key, not a secret
STAFF_KEY = "telehub_staff"
NOTICE_KEY = "telehub_signin_notice"
PATIENT_KEY = "telehub_patient_id"
# Reads are cached briefly: long enough to make reruns of one page cheap, shorter than
# the caseload's 30 s refresh so a refresh always fetches.
READ_TTL_S = 10


def settings() -> Settings:
    """The dashboard's settings (API URL, display timezone)."""
    return get_settings()


@st.cache_resource(show_spinner=False)
def _http(base_url: str) -> httpx.Client:
    from dashboard.client import new_http

    return new_http(base_url)


def anonymous_api() -> ApiClient:
    """The API without a token (for signing in)."""
    return ApiClient(_http(settings().api_url))


def token() -> str | None:
    """The signed-in user's bearer token, if any."""
    value = st.session_state.get(TOKEN_KEY)
    return str(value) if value else None


def api() -> ApiClient:
    """The API as the signed-in user; Unauthorized when no one is signed in."""
    value = token()
    if value is None:
        raise Unauthorized(401, "Please sign in.")
    return anonymous_api().with_token(value)


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
        st.error(f"**Service unavailable.** {err.message}", icon="⚠️")
        st.stop()
    except ApiError as err:
        if soft:
            raise
        _refused(err)


def _refused(err: ApiError) -> None:
    if isinstance(err, Forbidden):
        st.warning("Your role does not give access to this page.", icon="🔒")
    elif isinstance(err, NotFound):
        st.warning("That record was not found, or it is not in your team's caseload.",
                   icon="🔎")
    else:
        st.error(f"The service could not answer: {err.message}", icon="⚠️")
    st.stop()


def clear_reads() -> None:
    """Forget cached reads after a change, so the next view shows it."""
    st.cache_data.clear()


# --- cached reads (keyed by the token, so one user never sees another's results) --------------

@st.cache_data(ttl=READ_TTL_S, show_spinner=False)
def _caseload(token_value: str, nurse_id: int | None) -> Caseload:
    return anonymous_api().with_token(token_value).caseload(nurse_id)


@st.cache_data(ttl=READ_TTL_S, show_spinner=False)
def _patient(token_value: str, patient_id: int) -> Patient:
    return anonymous_api().with_token(token_value).patient(patient_id)


@st.cache_data(ttl=60, show_spinner=False)
def _readings(token_value: str, patient_id: int, start: datetime, end: datetime,
              bucket: str) -> Readings:
    return anonymous_api().with_token(token_value).readings(patient_id, start=start, end=end,
                                                            bucket=bucket)


@st.cache_data(ttl=READ_TTL_S, show_spinner=False)
def _thresholds(token_value: str, patient_id: int) -> list[Threshold]:
    return anonymous_api().with_token(token_value).thresholds(patient_id)


@st.cache_data(ttl=300, show_spinner=False)
def _birth_dates(token_value: str) -> dict[int, date]:
    patients = anonymous_api().with_token(token_value).patients()
    return {p.id: p.birth_date for p in patients}


@st.cache_data(ttl=READ_TTL_S, show_spinner=False)
def _care_patients(token_value: str) -> dict[int, CarePatient]:
    found = anonymous_api().with_token(token_value).care_patients()
    return {p.patient_id: p for p in found}


def care_patients() -> dict[int, CarePatient]:
    """Risk tier and review date by patient id (cached briefly)."""
    return _care_patients(_need_token())


def birth_dates() -> dict[int, date]:
    """Patients' birth dates by id, for ages on the caseload (cached for five minutes)."""
    return _birth_dates(_need_token())


def caseload(nurse_id: int | None = None) -> Caseload:
    """The caller's caseload (cached briefly)."""
    return _caseload(_need_token(), nurse_id)


def patient(patient_id: int) -> Patient:
    """A patient's record (cached briefly)."""
    return _patient(_need_token(), patient_id)


def readings(patient_id: int, start: datetime, end: datetime, bucket: str) -> Readings:
    """A patient's readings in a window (cached for a minute; the window moves with time)."""
    return _readings(_need_token(), patient_id, start, end, bucket)


def thresholds(patient_id: int) -> list[Threshold]:
    """A patient's thresholds (cached briefly)."""
    return _thresholds(_need_token(), patient_id)


def _need_token() -> str:
    value = token()
    if value is None:
        raise Unauthorized(401, "Please sign in.")
    return value
