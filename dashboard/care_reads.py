"""Cached reads of the care-coordination records a patient page shows (keyed by the token, so
one user never sees another's results; `session.clear_reads()` forgets them after a change)."""

from __future__ import annotations

import streamlit as st

from dashboard import session
from dashboard.care_models import CarePlan, CareTeam, Contact, Episode, RiskScore
from dashboard.client import ApiClient, Unauthorized

# As session.READ_TTL_S: reruns of one page are cheap, a change shows at once (cleared).
TTL_S = session.READ_TTL_S


def _api(token_value: str) -> ApiClient:
    return session.anonymous_api().with_token(token_value)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _care_team(token_value: str, patient_id: int) -> CareTeam:
    return _api(token_value).care_team(patient_id)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _contacts(token_value: str, patient_id: int) -> list[Contact]:
    return _api(token_value).contacts(patient_id)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _care_plan(token_value: str, patient_id: int) -> CarePlan:
    return _api(token_value).care_plan(patient_id)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _care_plan_html(token_value: str, patient_id: int) -> str:
    return _api(token_value).care_plan_html(patient_id)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _risk_history(token_value: str, patient_id: int) -> list[RiskScore]:
    return _api(token_value).risk_history(patient_id)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _admissions(token_value: str, patient_id: int) -> list[Episode]:
    return _api(token_value).admissions(patient_id)


def _token() -> str:
    value = session.token()
    if value is None:
        raise Unauthorized(401, "Please sign in.")
    return value


def care_team(patient_id: int) -> CareTeam:
    """GP, coordinator, access, advance decision, consent."""
    return _care_team(_token(), patient_id)


def contacts(patient_id: int) -> list[Contact]:
    """Carers and next of kin."""
    return _contacts(_token(), patient_id)


def care_plan(patient_id: int) -> CarePlan:
    """Schedule, triggers, advice, reviews."""
    return _care_plan(_token(), patient_id)


def care_plan_html(patient_id: int) -> str:
    """The printable one-page plan."""
    return _care_plan_html(_token(), patient_id)


def risk_history(patient_id: int) -> list[RiskScore]:
    """Imported risk scores, newest first."""
    return _risk_history(_token(), patient_id)


def admissions(patient_id: int) -> list[Episode]:
    """Hospital episodes."""
    return _admissions(_token(), patient_id)
