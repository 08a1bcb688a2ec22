"""The patient page's hospital episodes: emergency admissions and A&E attendances, recording one,
the discharge (which creates a follow-up task) and the post-admission review."""

from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st

from dashboard.client import reads, session
from dashboard.client.episodes import Episode
from dashboard.client.patients import Patient
from dashboard.components.changes import can_edit, save_change
from telehub.domain import clock
from telehub.domain.codes import EPISODE_LABELS, EpisodeKind

AVOIDABLE = {"yes": "yes, avoidable", "no": "no", "unsure": "unsure"}


def _today() -> date:
    return clock.today(session.settings().zone)


def admissions_section(patient: Patient) -> None:
    """Hospital episodes with their reviews; record, discharge, review."""
    episodes = session.read_or_warn(lambda: reads.admissions(patient.id),
                                    "Admissions could not be loaded")
    if episodes is None:
        return
    if episodes:
        st.dataframe(pd.DataFrame([_episode_row(e) for e in episodes]), hide_index=True,
                     width="stretch", key="admissions_table")
    else:
        st.info("No emergency admissions or A&E attendances recorded.")
    if not can_edit():
        return
    _episode_form(patient)
    open_stays = [e for e in episodes if e.kind == EpisodeKind.EMERGENCY_ADMISSION
                  and e.discharged_on is None]
    if open_stays:
        _discharge_form(open_stays)
    unreviewed = [e for e in episodes if e.avoidable is None]
    if unreviewed:
        _episode_review_form(unreviewed)


def _episode_row(e: Episode) -> dict[str, object]:
    return {
        "What": EPISODE_LABELS.get(e.kind, e.kind), "From": f"{e.started_on:%d %b %Y}",
        "Discharged": f"{e.discharged_on:%d %b %Y}" if e.discharged_on else
        ("still in hospital" if e.kind == EpisodeKind.EMERGENCY_ADMISSION else "—"),
        "Hospital": e.hospital or "", "Reason": e.reason or "",
        "Alerts in the 14 days before": e.alerts_before,
        "Avoidable?": AVOIDABLE.get(e.avoidable or "", "not reviewed"),
        "What would have helped": e.would_have_helped or "", "Recorded by": e.recorded_by,
    }


def _label(e: Episode) -> str:
    return f"{EPISODE_LABELS.get(e.kind, e.kind)} from {e.started_on:%d %b %Y}"


def _episode_form(patient: Patient) -> None:
    with st.form("episode_add", clear_on_submit=True):
        st.markdown("**Record an admission or A&E attendance**")
        cols = st.columns(4)
        kind = cols[0].selectbox("Kind", list(EPISODE_LABELS),
                                 format_func=EPISODE_LABELS.__getitem__)
        started = cols[1].date_input("Started on", value=_today(), max_value=_today())
        hospital = cols[2].text_input("Hospital")
        reason = cols[3].text_input("Reason")
        submitted = st.form_submit_button("Record episode")
    if submitted and kind is not None:
        save_change(lambda: session.api().add_admission(
            patient.id, kind=kind, started_on=started, hospital=hospital.strip() or None,
            reason=reason.strip() or None), f"{EPISODE_LABELS[kind]} recorded.")


def _discharge_form(stays: list[Episode]) -> None:
    with st.form("episode_discharge"):
        st.markdown("**Record a discharge** (a follow-up task is created)")
        cols = st.columns(3)
        which = cols[0].selectbox("Admission", [e.id for e in stays],
                                  format_func={e.id: _label(e) for e in stays}.__getitem__)
        day = cols[1].date_input("Discharged on", value=_today(), max_value=_today())
        days = cols[2].number_input("Follow up within (days)", min_value=0, max_value=30,
                                    value=2)
        submitted = st.form_submit_button("Record discharge")
    if submitted and which is not None:
        save_change(lambda: session.api().discharge(int(which), day, int(days)),
                    "Discharge recorded; the follow-up task is on the team's list.")


def _episode_review_form(episodes: list[Episode]) -> None:
    with st.form("episode_review"):
        st.markdown("**Post-admission review**")
        cols = st.columns([2, 1, 3])
        which = cols[0].selectbox("Episode", [e.id for e in episodes],
                                  format_func={e.id: _label(e) for e in episodes}.__getitem__)
        avoidable = cols[1].selectbox("Was it avoidable?", list(AVOIDABLE),
                                      format_func=AVOIDABLE.__getitem__, index=None)
        helped = cols[2].text_input("What would have helped")
        submitted = st.form_submit_button("Save review")
    if not submitted or which is None:
        return
    if avoidable is None:
        st.error("Answer whether the admission was avoidable.")
        return
    save_change(lambda: session.api().review_admission(int(which), avoidable,
                                                       helped.strip() or None),
                "Post-admission review saved.")
