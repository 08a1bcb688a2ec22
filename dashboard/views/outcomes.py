"""Outcomes and MDT (matron, manager, admin): before/after enrolment rates with their
intervals against a comparison cohort; emergency admissions and A&E attendances per
1,000 monitored patients, readmissions, alerts before admissions, time from red alert to
first action, month by month as charts; the weekly MDT list as CSV; CSV imports of risk
tiers and admissions."""

from __future__ import annotations

import streamlit as st

from dashboard.client import session
from dashboard.client.figures import Outcomes
from dashboard.components.before_after_section import before_after_section
from dashboard.components.imports_section import imports_section
from dashboard.components.mdt_section import mdt_section
from dashboard.components.outcome_charts import (
    admissions_figure,
    outcomes_table,
    readmissions_figure,
    response_figure,
)
from dashboard.components.team_picker import pick_team
from dashboard.components.times import month_span
from telehub.domain import clock
from telehub.domain.codes import CLINICAL_ROLES, Role

PERIODS = {"Last 3 months": 3, "Last 6 months": 6, "Last 12 months": 12}
# Who may open the MDT list (it names patients): the clinical team, and admins.
MDT_ROLES = frozenset({Role.ADMIN, *CLINICAL_ROLES})


def _charts(outcomes: Outcomes) -> None:
    if not any(m.monitored_patients for m in outcomes.months):
        st.info("No monitored patients in this period, so there are no outcomes to show.")
        return
    st.subheader("Emergency admissions and A&E attendances per 1,000 monitored patients")
    st.plotly_chart(admissions_figure(outcomes.months), width="stretch",
                    key="outcomes_admissions")
    left, right = st.columns(2)
    with left:
        st.subheader("Readmissions and admissions after an alert")
        st.plotly_chart(readmissions_figure(outcomes.months), width="stretch",
                        key="outcomes_readmissions")
    with right:
        st.subheader("Time from red alert to first action")
        if any(m.minutes_to_first_action_median is not None for m in outcomes.months):
            st.plotly_chart(response_figure(outcomes.months), width="stretch",
                            key="outcomes_response")
        else:
            st.info("No red alert was actioned in this period.")
    st.dataframe(outcomes_table(outcomes), hide_index=True, width="stretch",
                 key="outcomes_table")
    with st.expander("How these figures are counted"):
        for name, text in outcomes.definitions.items():
            st.markdown(f"- **{name.replace('_', ' ')}**: {text}")


def render() -> None:
    """Pick a team and a period; the charts, the table, the MDT list."""
    st.title("Outcomes and MDT")
    team_id = pick_team("outcomes_team")
    if team_id is None:
        return
    staff = session.current_staff()
    before_after_section(team_id, can_import=staff is not None
                         and staff.role in (Role.ADMIN, Role.MATRON))
    st.subheader("Month by month")
    period = st.segmented_control("Period", list(PERIODS), default="Last 6 months",
                                  key="outcomes_period")
    today = clock.today(session.settings().zone)
    start, end = month_span(today, PERIODS[period or "Last 6 months"])
    with session.handling_errors():
        outcomes = session.api().outcomes(team_id, start, end)
    _charts(outcomes)
    st.subheader("Weekly MDT review list")
    if staff is not None and staff.role in MDT_ROLES:
        mdt_section(team_id, "outcomes_mdt")
        st.subheader("Import risk tiers and admissions")
        imports_section()
    else:
        st.caption("The MDT list names patients, so only clinical staff can open it.")


render()
