"""Cached reads of what the pages show, keyed by the token so one user never sees another's
results; `session.clear_reads()` forgets them after a change."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from dashboard.client.api import ApiClient
from dashboard.client.care import CarePatient, CarePlan, CareTeam, Contact, RiskScore
from dashboard.client.episodes import Episode
from dashboard.client.patients import Caseload, Patient, Readings, Threshold
from dashboard.client.session import anonymous_api, need_token

# Reads are cached briefly: long enough to make reruns of one page cheap, shorter than
# the caseload's 30 s refresh so a refresh always fetches.
READ_TTL_S = 10


def _api(token_value: str) -> ApiClient:
    return anonymous_api().with_token(token_value)


@st.cache_data(ttl=READ_TTL_S, show_spinner=False)
def _caseload(token_value: str, nurse_id: int | None) -> Caseload:
    return _api(token_value).caseload(nurse_id)


@st.cache_data(ttl=READ_TTL_S, show_spinner=False)
def _patient(token_value: str, patient_id: int) -> Patient:
    return _api(token_value).patient(patient_id)


@st.cache_data(ttl=60, show_spinner=False)
def _readings(token_value: str, patient_id: int, start: datetime, end: datetime,
              bucket: str) -> Readings:
    return _api(token_value).readings(patient_id, start=start, end=end, bucket=bucket)


@st.cache_data(ttl=READ_TTL_S, show_spinner=False)
def _thresholds(token_value: str, patient_id: int) -> list[Threshold]:
    return _api(token_value).thresholds(patient_id)


@st.cache_data(ttl=READ_TTL_S, show_spinner=False)
def _care_patients(token_value: str) -> dict[int, CarePatient]:
    return {p.patient_id: p for p in _api(token_value).care_patients()}


@st.cache_data(ttl=READ_TTL_S, show_spinner=False)
def _care_team(token_value: str, patient_id: int) -> CareTeam:
    return _api(token_value).care_team(patient_id)


@st.cache_data(ttl=READ_TTL_S, show_spinner=False)
def _contacts(token_value: str, patient_id: int) -> list[Contact]:
    return _api(token_value).contacts(patient_id)


@st.cache_data(ttl=READ_TTL_S, show_spinner=False)
def _care_plan(token_value: str, patient_id: int) -> CarePlan:
    return _api(token_value).care_plan(patient_id)


@st.cache_data(ttl=READ_TTL_S, show_spinner=False)
def _care_plan_html(token_value: str, patient_id: int) -> str:
    return _api(token_value).care_plan_html(patient_id)


@st.cache_data(ttl=READ_TTL_S, show_spinner=False)
def _risk_history(token_value: str, patient_id: int) -> list[RiskScore]:
    return _api(token_value).risk_history(patient_id)


@st.cache_data(ttl=READ_TTL_S, show_spinner=False)
def _admissions(token_value: str, patient_id: int) -> list[Episode]:
    return _api(token_value).admissions(patient_id)


def caseload(nurse_id: int | None = None) -> Caseload:
    """The caller's caseload (cached briefly)."""
    return _caseload(need_token(), nurse_id)


def patient(patient_id: int) -> Patient:
    """A patient's record (cached briefly)."""
    return _patient(need_token(), patient_id)


def readings(patient_id: int, start: datetime, end: datetime, bucket: str) -> Readings:
    """A patient's readings in a window (cached for a minute; the window moves with time)."""
    return _readings(need_token(), patient_id, start, end, bucket)


def thresholds(patient_id: int) -> list[Threshold]:
    """A patient's thresholds (cached briefly)."""
    return _thresholds(need_token(), patient_id)


def care_patients() -> dict[int, CarePatient]:
    """Risk tier and review date by patient id (cached briefly)."""
    return _care_patients(need_token())


def care_team(patient_id: int) -> CareTeam:
    """GP, coordinator, access, advance decision, consent."""
    return _care_team(need_token(), patient_id)


def contacts(patient_id: int) -> list[Contact]:
    """Carers and next of kin."""
    return _contacts(need_token(), patient_id)


def care_plan(patient_id: int) -> CarePlan:
    """Schedule, triggers, advice, reviews."""
    return _care_plan(need_token(), patient_id)


def care_plan_html(patient_id: int) -> str:
    """The printable one-page plan."""
    return _care_plan_html(need_token(), patient_id)


def risk_history(patient_id: int) -> list[RiskScore]:
    """Imported risk scores, newest first."""
    return _risk_history(need_token(), patient_id)


def admissions(patient_id: int) -> list[Episode]:
    """Hospital episodes."""
    return _admissions(need_token(), patient_id)
