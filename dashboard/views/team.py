"""Team view (matron, manager, admin): monitoring figures as charts, nothing identifiable."""

from __future__ import annotations

from datetime import timedelta

import plotly.graph_objects as go
import streamlit as st

from dashboard.client import session
from dashboard.client.figures import TeamStats
from dashboard.components.charts import ack_figure, adherence_figure, outcomes_figure, rates_figure
from dashboard.components.formatting import format_adherence
from dashboard.components.rule_performance_section import rule_performance_section
from dashboard.components.team_picker import pick_team
from dashboard.components.times import format_local
from telehub.domain import clock
from telehub.domain.codes import CLINICAL_ROLES, Role

PERIODS = {"Last 7 days": 7, "Last 30 days": 30, "Last 90 days": 90, "Last year": 365}


def _chart(title: str, figure: go.Figure | None, key: str, empty: str) -> None:
    """A titled chart, or a sentence saying why there is none."""
    st.subheader(title)
    if figure is None:
        st.info(empty)
    else:
        st.plotly_chart(figure, width="stretch", key=key)


def _headline(stats: TeamStats) -> None:
    zone = session.settings().zone
    st.caption(f"{format_local(stats.start, zone)} to {format_local(stats.end, zone)}")
    cols = st.columns(4)
    cols[0].metric("Patients monitored", stats.patients_monitored)
    cols[1].metric("Patient-days", f"{stats.patient_days:.0f}")
    cols[2].metric("Adherence", format_adherence(stats.adherence),
                   help="Share of the readings the care plans expect that arrived.")
    cols[3].metric("Readings received", f"{stats.received_readings} of {stats.expected_readings}")


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
    _headline(stats)
    _chart("Adherence", adherence_figure(stats.adherence, stats.received_readings,
                                         stats.expected_readings)
           if stats.expected_readings else None,
           "team_adherence", "No care plan expects readings in this period.")
    left, right = st.columns(2)
    with left:
        _chart("Alerts per 100 patient-days, by rule",
               rates_figure(stats.alerts_by_rule) if stats.alerts_by_rule else None,
               "team_rates", "No alerts in this period.")
    with right:
        _chart("Time to acknowledge, by severity",
               ack_figure(stats.time_to_acknowledge)
               if any(t.acknowledged for t in stats.time_to_acknowledge) else None,
               "team_ack", "No acknowledged alerts in this period.")
    _chart("Outcomes of resolved alerts",
           outcomes_figure(stats.outcomes) if stats.outcomes else None,
           "team_outcomes", "No alerts were resolved in this period.")
    staff = session.current_staff()
    rule_performance_section(team_id, start, end, clinical=staff is not None and staff.role in (
        Role.ADMIN, *CLINICAL_ROLES))


render()
