"""Rule performance (team view): per rule, alerts, the share resolved with an action against
noise, median time to acknowledge and the admissions it preceded; and, for clinical staff,
each patient's noisy rule with its suggested threshold to accept or dismiss with a reason."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard.client import ApiError, session
from dashboard.client.performance import NoisyRule, RulePerformance
from dashboard.components.outcome_charts import NHS_BLUE, NHS_WARM
from dashboard.components.text import escape_markdown

_MARGIN = {"l": 10, "r": 10, "t": 10, "b": 10}


def performance_figure(perf: RulePerformance) -> go.Figure:
    """Per rule, alerts resolved with an action and as noise (stacked counts)."""
    rules = [r for r in perf.rules if r.action or r.noise]
    xs = [r.rule_id for r in rules]
    fig = go.Figure([
        go.Bar(name="led to action", x=xs, y=[r.action for r in rules], marker_color=NHS_BLUE),
        go.Bar(name="noise", x=xs, y=[r.noise for r in rules], marker_color=NHS_WARM,
               marker_pattern_shape="/")])
    fig.update_layout(barmode="stack", yaxis_title="resolved alerts", height=340,
                      xaxis={"type": "category"}, margin=_MARGIN,
                      legend={"orientation": "h", "y": -0.4})
    return fig


def performance_table(perf: RulePerformance) -> pd.DataFrame:
    """One row a rule."""
    return pd.DataFrame([{
        "Rule": r.rule_id, "Alerts": r.alerts, "Action": r.action, "Noise": r.noise,
        "Still open": r.unresolved,
        "Share with action": "–" if r.action_share is None else f"{r.action_share:.0%}",
        "Median minutes to acknowledge": r.median_minutes_to_acknowledge,
        "Admissions preceded (14 days)": r.admissions_preceded} for r in perf.rules])


def _limit_text(values: Mapping[str, object] | None, unit: str | None) -> str:
    if not values:
        return "–"
    return ", ".join(f"{k.replace('_', ' ')} {v:g}{' ' + unit if unit else ''}"
                     if isinstance(v, int | float) else f"{k} {v}" for k, v in values.items())


def _suggestion(s: NoisyRule, key: str) -> None:
    with st.container(border=True):
        st.markdown(f"**{escape_markdown(s.display_id)} · {escape_markdown(s.rule_id)}** — "
                    f"{s.alerts_without_action} alerts without action in 30 days")
        current = {k: v for k, v in s.current.items() if k in (s.suggested or {})}
        st.markdown(f"Now: {_limit_text(current or None, s.unit)} · Suggested: "
                    f"{_limit_text(s.suggested, s.unit)}")
        st.caption(escape_markdown(s.explanation))
        reason = st.text_input("Reason (required)", key=f"{key}_reason")
        left, right = st.columns(2)
        accept = left.button("Accept as individual threshold", key=f"{key}_accept",
                             disabled=not s.suggested)
        dismiss = right.button("Dismiss for 30 days", key=f"{key}_dismiss")
        if not (accept or dismiss):
            return
        if len(reason.strip()) < 3:
            st.error("Say why (a reason of at least 3 characters).")
            return
        try:
            with session.handling_errors(soft=True):
                session.api().decide_suggestion(s.patient_id, s.rule_id,
                                                "accept" if accept else "dismiss", reason)
        except ApiError as err:
            st.error(escape_markdown(err.message))
            return
        session.clear_reads()
        st.success("Threshold changed." if accept else "Suggestion dismissed for 30 days.")
        st.rerun()


def rule_performance_section(team_id: int, start: datetime, end: datetime,
                             clinical: bool) -> None:
    """Per-rule figures over [start, end), then the suggestions (clinical staff only)."""
    st.subheader("Rule performance")
    perf = session.read_or_warn(
        lambda: session.api().rule_performance(team_id, start=start, end=end),
        "Rule performance could not be loaded")
    if perf is None:
        return
    if not perf.rules:
        st.info("No alerts in this period, so there is no rule performance to show.")
    else:
        if any(r.action or r.noise for r in perf.rules):
            st.plotly_chart(performance_figure(perf), width="stretch", key="team_rule_perf")
        st.dataframe(performance_table(perf), hide_index=True, width="stretch",
                     key="team_rule_table")
        with st.expander("How these figures are counted"):
            for name, text in perf.definitions.items():
                st.markdown(f"- **{name.replace('_', ' ')}**: {text}")
    st.subheader("Suggested individual thresholds")
    if not clinical:
        st.caption("Suggestions name patients, so only clinical staff see them.")
        return
    found = session.read_or_warn(lambda: session.api().threshold_suggestions(team_id),
                                 "Suggestions could not be loaded")
    if not found:
        st.info("No rule has fired 5 times in 30 days for a patient without leading to "
                "action.")
        return
    for i, s in enumerate(found):
        _suggestion(s, f"suggest_{i}")
