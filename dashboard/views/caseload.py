"""Caseload (home page): the team's patients worst first, refreshed every 30 s in place."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard.client import ApiError, reads, session
from dashboard.client.care import CarePatient
from dashboard.components.caseload_table import (
    CASELOAD_METRICS,
    NO_TIER,
    SORTS,
    TRIAGE_LABELS,
    caseload_frame,
    filter_by_tier,
    filter_rows,
    review_overdue,
    sort_rows,
)
from dashboard.components.follow_ups_section import follow_ups_section
from dashboard.components.formatting import conditions_text, metric_label
from dashboard.components.mdt_section import mdt_section
from dashboard.components.times import format_local
from telehub.domain import clock
from telehub.domain.codes import CONDITIONS

REFRESH_S = 30  # the refresh interval: a new red alert shows within one refresh


def _column_config() -> dict[str, Any]:
    config: dict[str, Any] = {}
    for metric in CASELOAD_METRICS:
        config[metric] = st.column_config.TextColumn(f"Latest {metric_label(metric)}")
        config[f"{metric}_trend"] = st.column_config.LineChartColumn(
            f"{metric_label(metric)}, 7 days")
    config["Adherence"] = st.column_config.TextColumn(
        "Adherence, 7 days", help="Share of the readings the care plan expects over the last "
        "7 days that arrived (each day counts at most the plan's readings for it).")
    return config


def _care() -> dict[int, CarePatient]:
    """Risk tiers and review dates; the caseload still shows without them."""
    try:
        with session.handling_errors(soft=True):
            return reads.care_patients()
    except ApiError:
        return {}


@st.fragment(run_every=REFRESH_S)
def _live_table(scope: str, search: str, conditions: list[str], triage: list[str],
                tiers: list[str], sort: str) -> None:
    staff = session.current_staff()
    nurse_id = staff.id if staff is not None and scope == "My patients" else None
    with session.handling_errors():
        caseload = reads.caseload(nurse_id)
    zone = session.settings().zone
    now = clock.now()
    care = _care()
    rows = filter_rows(caseload.rows, search=search, conditions=conditions, triage=triage)
    rows = sort_rows(filter_by_tier(rows, care, tiers), care, sort)
    red = sum(1 for r in caseload.rows if r.triage == "red")
    today = clock.service_date(now, zone)
    overdue = sum(1 for r in caseload.rows if review_overdue(care.get(r.patient_id), today))
    st.caption(f"{caseload.total} patients · {red} RED · {overdue} care-plan reviews overdue"
               " · updated "
               f"{format_local(caseload.generated_at, zone)} (refreshes every {REFRESH_S} s)")
    if not caseload.rows:
        st.info("No patients in this caseload yet. An admin adds patients with "
                "`telehub patients add` or the API; patients then appear here.")
        return
    if not rows:
        st.info("No patient matches these filters. Clear the search or the filters.")
        return
    # Tall enough for a whole small caseload without an inner scroll bar.
    height = min(38 + 35 * len(rows), 38 + 35 * 25)
    st.dataframe(caseload_frame(rows, now, zone, care), hide_index=True,
                 width="stretch", height=height, column_config=_column_config(),
                 key="caseload_table")
    choices = {r.patient_id: f"{r.name} ({r.display_id})" for r in rows}
    pick = st.selectbox("Open a patient", options=list(choices), format_func=choices.__getitem__,
                        index=None, placeholder="Choose a patient…", key="caseload_open")
    if pick is not None and st.button("Open patient page", key="caseload_open_button"):
        st.session_state[session.PATIENT_KEY] = pick
        st.switch_page("views/patient.py")


def render() -> None:
    """Filters outside the live fragment keep the user's place across refreshes."""
    st.title("Caseload")
    left, mid, right, far = st.columns([1.2, 2, 2, 2])
    scope = left.radio("Show", ["Team", "My patients"], key="caseload_scope")
    search = mid.text_input("Search name or TH- id", key="caseload_search")
    conditions = right.multiselect("Condition", CONDITIONS, key="caseload_conditions",
                                   format_func=lambda c: conditions_text([c]))
    triage = far.multiselect("Status", list(TRIAGE_LABELS), format_func=lambda t: TRIAGE_LABELS[t],
                             key="caseload_triage")
    tier_col, sort_col = st.columns([3, 2])
    known = sorted({p.risk_tier for p in _care().values() if p.risk_tier})
    tiers = tier_col.multiselect("Risk tier", [*known, NO_TIER], key="caseload_tiers")
    sort = sort_col.selectbox("Sort", list(SORTS), format_func=SORTS.__getitem__,
                              key="caseload_sort")
    _live_table(scope, search, conditions, triage, tiers, sort or "triage")
    staff = session.current_staff()
    if staff is not None and staff.team_id is not None:
        with st.expander("Follow-ups after discharge", expanded=True):
            follow_ups_section(staff.team_id)
        with st.expander("Weekly MDT review list"):
            # Asked for only when wanted: the list is a heavier query than the caseload.
            if st.toggle("Show this week's MDT list", key="caseload_mdt_show"):
                mdt_section(staff.team_id, "caseload_mdt")


render()
