"""A team's outcomes month by month: Plotly figures of admissions, readmissions and response,
and the table of figures behind them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd
import plotly.graph_objects as go

from dashboard.client.figures import OutcomeMonth, Outcomes

NHS_BLUE = "#005eb8"
NHS_DARK = "#003087"
NHS_WARM = "#ed8b00"
_MARGIN = {"l": 10, "r": 10, "t": 10, "b": 10}


def month_labels(months: Sequence[OutcomeMonth]) -> list[str]:
    """'Oct 2026' for '2026-10': months as categories, so each bar sits on its own month."""
    return [datetime.strptime(m.month, "%Y-%m").strftime("%b %Y") for m in months]


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def admissions_figure(months: Sequence[OutcomeMonth]) -> go.Figure:
    """Emergency admissions and A&E attendances per 1,000 monitored patients, by month."""
    xs = month_labels(months)
    fig = go.Figure([
        go.Bar(name="emergency admissions per 1,000", x=xs,
               y=[m.admissions_per_1000 for m in months], marker_color=NHS_BLUE,
               text=[_rate(m.admissions_per_1000) for m in months],
               customdata=[m.emergency_admissions for m in months],
               hovertemplate="%{x}: %{y:.1f} per 1,000 (%{customdata} admissions)"
                             "<extra></extra>"),
        go.Bar(name="A&E attendances per 1,000", x=xs, y=[m.ae_per_1000 for m in months],
               marker_color=NHS_WARM, marker_pattern_shape="/",
               text=[_rate(m.ae_per_1000) for m in months],
               customdata=[m.ae_attendances for m in months],
               hovertemplate="%{x}: %{y:.1f} per 1,000 (%{customdata} attendances)"
                             "<extra></extra>"),
    ])
    fig.update_layout(barmode="group", yaxis_title="per 1,000 monitored patients",
                      xaxis={"title": "month", "type": "category"}, height=340, margin=_MARGIN,
                      legend={"orientation": "h", "y": -0.3})
    return fig


def readmissions_figure(months: Sequence[OutcomeMonth]) -> go.Figure:
    """Readmissions within 30 days and admissions an alert preceded, by month (counts)."""
    xs = month_labels(months)
    fig = go.Figure([
        go.Bar(name="readmissions within 30 days", x=xs,
               y=[m.readmissions_30d for m in months], marker_color=NHS_DARK),
        go.Bar(name="admissions preceded by an alert", x=xs,
               y=[m.admissions_preceded_by_alert for m in months], marker_color=NHS_WARM,
               marker_pattern_shape="x"),
    ])
    fig.update_layout(barmode="group", yaxis_title="admissions",
                      xaxis={"title": "month", "type": "category"},
                      height=340, margin=_MARGIN, legend={"orientation": "h", "y": -0.3})
    return fig


def response_figure(months: Sequence[OutcomeMonth]) -> go.Figure:
    """Minutes from a red alert to its first action (median and 90th percentile), by month."""
    xs = month_labels(months)
    fig = go.Figure([
        go.Scatter(name="median", x=xs, y=[m.minutes_to_first_action_median for m in months],
                   mode="lines+markers", line={"color": NHS_BLUE}),
        go.Scatter(name="90th percentile", x=xs,
                   y=[m.minutes_to_first_action_p90 for m in months], mode="lines+markers",
                   line={"color": NHS_WARM, "dash": "dash"}, marker={"symbol": "square"}),
    ])
    fig.update_layout(yaxis_title="minutes from red alert to first action",
                      xaxis={"title": "month", "type": "category"},
                      height=340, margin=_MARGIN, legend={"orientation": "h", "y": -0.3})
    return fig


def outcomes_table(outcomes: Outcomes) -> pd.DataFrame:
    """The figures behind the charts, one row per month."""
    def rate(value: float | None) -> str:
        return "—" if value is None else f"{value:.1f}"

    def minutes(value: float | None) -> str:
        return "—" if value is None else f"{value:.0f} min"

    return pd.DataFrame([{
        "Month": m.month, "Monitored patients": m.monitored_patients,
        "Emergency admissions": m.emergency_admissions,
        "per 1,000": rate(m.admissions_per_1000), "A&E attendances": m.ae_attendances,
        "A&E per 1,000": rate(m.ae_per_1000), "Readmissions ≤ 30 days": m.readmissions_30d,
        "Admissions after an alert": m.admissions_preceded_by_alert,
        "Red alerts actioned": f"{m.red_alerts_actioned} of {m.red_alerts}",
        "To first action (median)": minutes(m.minutes_to_first_action_median),
        "To first action (90th pct)": minutes(m.minutes_to_first_action_p90),
    } for m in outcomes.months])
