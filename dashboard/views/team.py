"""Team view (matron, manager, admin): monitoring figures as charts, nothing identifiable."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from dashboard.client import session
from dashboard.components.charts import ack_figure, adherence_figure, outcomes_figure, rates_figure
from dashboard.components.formatting import format_adherence
from dashboard.components.team_picker import pick_team
from dashboard.components.times import format_local
from telehub.domain import clock

PERIODS = {"Last 7 days": 7, "Last 30 days": 30, "Last 90 days": 90, "Last year": 365}


def render() -> None:
    """Patients monitored, adherence, alert rates, time to acknowledge and outcomes."""
    st.title("Team view")
    team_id = pick_team("team_pick")
    if team_id is None:
        return
    period = st.segmented_control("Period", list(PERIODS), default="Last 30 days",
                                  key="team_period")
    end = clock.now()
    start = end - timedelta(days=PERIODS[period or "Last 30 days"])
    with session.handling_errors():
        stats = session.api().team_stats(team_id, start=start, end=end)
    zone = session.settings().zone
    st.caption(f"{format_local(stats.start, zone)} to {format_local(stats.end, zone)}")
    cols = st.columns(4)
    cols[0].metric("Patients monitored", stats.patients_monitored)
    cols[1].metric("Patient-days", f"{stats.patient_days:.0f}")
    cols[2].metric("Adherence", format_adherence(stats.adherence),
                   help="Share of the readings the care plans expect that arrived.")
    cols[3].metric("Readings received", f"{stats.received_readings} of {stats.expected_readings}")
    st.subheader("Adherence")
    if stats.expected_readings:
        st.plotly_chart(adherence_figure(stats.adherence, stats.received_readings,
                                         stats.expected_readings), width="stretch",
                        key="team_adherence")
    else:
        st.info("No care plan expects readings in this period.")
    left, right = st.columns(2)
    with left:
        st.subheader("Alerts per 100 patient-days, by rule")
        if stats.alerts_by_rule:
            st.plotly_chart(rates_figure(stats.alerts_by_rule), width="stretch",
                            key="team_rates")
        else:
            st.info("No alerts in this period.")
    with right:
        st.subheader("Time to acknowledge, by severity")
        if any(t.acknowledged for t in stats.time_to_acknowledge):
            st.plotly_chart(ack_figure(stats.time_to_acknowledge), width="stretch",
                            key="team_ack")
        else:
            st.info("No acknowledged alerts in this period.")
    st.subheader("Outcomes of resolved alerts")
    if stats.outcomes:
        st.plotly_chart(outcomes_figure(stats.outcomes), width="stretch",
                        key="team_outcomes")
    else:
        st.info("No alerts were resolved in this period.")


render()
