"""Plotly figures: a metric over time with threshold bands and alert markers; team charts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from numbers import Real
from zoneinfo import ZoneInfo

import plotly.graph_objects as go

from dashboard.formatting import metric_label
from dashboard.models import AckTime, Alert, Bucket, OutcomeCount, Reading, RuleRate, Threshold
from dashboard.times import to_local

SEVERITY_COLOUR = {"red": "#d5281b", "amber": "#ffb81c", "info": "#005eb8"}
# Parameter names that bound an alerting range from below or from above.
_LOWER_WORDS = ("min", "low", "from", "above", "at_least", "gte", "ge")
_UPPER_WORDS = ("max", "high", "to", "below", "at_most", "lte", "le")


def _wall(value: datetime, zone: ZoneInfo) -> datetime:
    """Local wall-clock time without offset: Plotly draws it as given."""
    return to_local(value, zone).replace(tzinfo=None)


def rule_severity(rule_id: str) -> str:
    """'red', 'amber' or 'info' from a rule id such as 'spo2-scale1-red' (default amber)."""
    for severity in ("red", "amber", "info"):
        if severity in rule_id.split("-"):
            return severity
    return "amber"


def rule_metric(rule_id: str) -> str | None:
    """The metric a rule id is about ('spo2-scale1-red' → 'spo2')."""
    head = rule_id.split("-", 1)[0]
    return head if head in ("weight", "spo2", "pulse", "glucose") else None


def threshold_limits(threshold: Threshold) -> tuple[float | None, float | None]:
    """The numeric lower and upper limits a threshold's parameters name, where they do."""
    lower = upper = None
    for key, value in threshold.params.items():
        if not isinstance(value, Real) or isinstance(value, bool):
            continue
        words = key.lower().split("_")
        name = key.lower()
        if any(w in words or name == w for w in _UPPER_WORDS) and upper is None:
            upper = float(value)
        elif any(w in words or name == w for w in _LOWER_WORDS) and lower is None:
            lower = float(value)
    return lower, upper


def metric_figure(metric: str, *, raw: Sequence[Reading] = (), buckets: Sequence[Bucket] = (),
                  thresholds: Sequence[Threshold] = (), alerts: Sequence[Alert] = (),
                  zone: ZoneInfo, height: int = 320) -> go.Figure:
    """One metric over time: readings (or daily min–max band and mean), limits, alerts."""
    fig = go.Figure()
    label = metric_label(metric)
    if buckets:
        xs = [_wall(b.start, zone) for b in buckets]
        fig.add_trace(go.Scatter(x=xs, y=[b.max for b in buckets], mode="lines",
                                 line={"width": 0}, name="daily max", showlegend=False))
        fig.add_trace(go.Scatter(x=xs, y=[b.min for b in buckets], mode="lines",
                                 line={"width": 0}, fill="tonexty", name="daily range (min–max)",
                                 fillcolor="rgba(0,94,184,0.18)"))
        fig.add_trace(go.Scatter(x=xs, y=[b.mean for b in buckets], mode="lines+markers",
                                 name="daily mean", line={"color": "#005eb8"}))
    else:
        fig.add_trace(go.Scatter(x=[_wall(r.time, zone) for r in raw],
                                 y=[r.value for r in raw], mode="lines+markers", name=label,
                                 line={"color": "#005eb8"},
                                 marker={"symbol": ["x" if r.flags else "circle" for r in raw],
                                         "size": [10 if r.flags else 6 for r in raw]},
                                 text=[", ".join(r.flags) for r in raw],
                                 hovertemplate="%{x|%d %b %H:%M}: %{y} %{text}<extra></extra>"))
    for threshold in thresholds:
        if rule_metric(threshold.rule_id) != metric:
            continue
        _draw_limits(fig, threshold)
    _mark_alerts(fig, [a for a in alerts if a.metric == metric], zone)
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      yaxis_title=label, xaxis_title=f"time ({zone.key})",
                      legend={"orientation": "h", "y": -0.25})
    return fig


def _draw_limits(fig: go.Figure, threshold: Threshold) -> None:
    lower, upper = threshold_limits(threshold)
    severity = rule_severity(threshold.rule_id)
    colour = SEVERITY_COLOUR[severity]
    tag = f"{threshold.rule_id}{' (individual)' if threshold.individual else ''}"
    if lower is not None and upper is not None:
        fig.add_hrect(y0=lower, y1=upper, fillcolor=colour, opacity=0.12, line_width=0,
                      annotation_text=f"{severity.upper()} {tag}",
                      annotation_position="top left")
    for value in (v for v in (lower, upper) if v is not None):
        fig.add_hline(y=value, line_dash="dash", line_color=colour, line_width=1,
                      annotation_text=f"{severity.upper()} {value:g}",
                      annotation_position="bottom right")


def _mark_alerts(fig: go.Figure, alerts: Sequence[Alert], zone: ZoneInfo) -> None:
    if not alerts:
        return
    values = [a.values.get("latest") for a in alerts]
    fig.add_trace(go.Scatter(
        x=[_wall(a.first_breach_at, zone) for a in alerts],
        y=[v if isinstance(v, Real) else None for v in values],
        mode="markers+text", name="alerts", text=[a.severity.upper() for a in alerts],
        textposition="top center",
        marker={"symbol": "triangle-down", "size": 14,
                "color": [SEVERITY_COLOUR.get(a.severity, "#425563") for a in alerts]},
        hovertext=[a.message for a in alerts], hoverinfo="text"))


def rates_figure(rates: Sequence[RuleRate]) -> go.Figure:
    """Alerts per 100 patient-days by rule, coloured and labelled by severity."""
    ordered = sorted(rates, key=lambda r: r.per_100_patient_days)
    fig = go.Figure(go.Bar(
        x=[r.per_100_patient_days for r in ordered], y=[r.rule_id for r in ordered],
        orientation="h", text=[f"{r.per_100_patient_days:.1f} ({r.alerts})" for r in ordered],
        marker_color=[SEVERITY_COLOUR[rule_severity(r.rule_id)] for r in ordered]))
    fig.update_layout(xaxis_title="alerts per 100 patient-days", height=120 + 28 * len(ordered),
                      margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return fig


def ack_figure(times: Sequence[AckTime]) -> go.Figure:
    """Median and 90th-percentile minutes to acknowledge, by severity."""
    severities = [t.severity.upper() for t in times]
    fig = go.Figure([
        go.Bar(name="median", x=severities, y=[t.median_minutes for t in times]),
        go.Bar(name="90th percentile", x=severities, y=[t.p90_minutes for t in times]),
    ])
    fig.update_layout(barmode="group", yaxis_title="minutes to acknowledge", height=320,
                      margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return fig


def outcomes_figure(outcomes: Sequence[OutcomeCount]) -> go.Figure:
    """Resolved alerts by outcome."""
    ordered = sorted(outcomes, key=lambda o: o.alerts)
    fig = go.Figure(go.Bar(x=[o.alerts for o in ordered],
                           y=[o.outcome.replace("-", " ") for o in ordered], orientation="h",
                           text=[o.alerts for o in ordered], marker_color="#005eb8"))
    fig.update_layout(xaxis_title="resolved alerts", height=120 + 28 * len(ordered),
                      margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return fig
