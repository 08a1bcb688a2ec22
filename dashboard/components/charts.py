"""Plotly figures: a metric over time with threshold bands and alert markers; team charts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from numbers import Real
from zoneinfo import ZoneInfo

import plotly.graph_objects as go

from dashboard.client.alerts import Alert
from dashboard.client.figures import AckTime, OutcomeCount, RuleRate
from dashboard.client.patients import Bucket, Reading, Threshold
from dashboard.components.formatting import metric_label, outcome_text
from dashboard.components.times import to_local
from telehub.domain.codes import SEVERITIES, Severity
from telehub.domain.units import SPECS, Metric, Unit, format_limit

SEVERITY_COLOUR: dict[str, str] = {Severity.RED: "#d5281b", Severity.AMBER: "#ffb81c",
                                   Severity.INFO: "#005eb8"}
# Threshold parameters that put a band's edge on a chart: alert at or below / at or above.
_BELOW_KEYS = ("at_or_below", "below")
_ABOVE_KEYS = ("at_or_above", "above")


@dataclass(frozen=True)
class Zone:
    """An alerting band of one rule: values at or below (or above) `limit` alert."""

    rule_id: str
    severity: str
    limit: float
    below: bool
    individual: bool
    shown: str = ""               # the limit in words when it is not just the number


def _wall(value: datetime, zone: ZoneInfo) -> datetime:
    """Local wall-clock time without offset: Plotly draws it as given."""
    return to_local(value, zone).replace(tzinfo=None)


def rule_severity(rule_id: str) -> str:
    """'red', 'amber' or 'info' from a rule id such as 'spo2-scale1-red' (default amber)."""
    for severity in reversed(SEVERITIES):
        if severity in rule_id.split("-"):
            return severity.value
    return Severity.AMBER.value


def rule_metric(rule_id: str) -> str | None:
    """The metric a rule id is about ('spo2-scale1-red' → 'spo2')."""
    head = rule_id.split("-", 1)[0]
    return head if head in Metric.__members__.values() else None


def threshold_zones(threshold: Threshold, metric: str) -> list[Zone]:
    """The bands a threshold draws on `metric`'s chart (in the canonical unit)."""
    if rule_metric(threshold.rule_id) != metric:
        return []
    if not threshold.applies:
        return []
    severity = threshold.severity or rule_severity(threshold.rule_id)
    zones = []
    for key, value in threshold.params.items():
        if not isinstance(value, Real) or isinstance(value, bool):
            continue
        if key in _BELOW_KEYS or key in _ABOVE_KEYS:
            unit = threshold.units.get(key)
            shown = format_limit(Metric.GLUCOSE, float(value), unit) if metric == "glucose" \
                else ""
            zones.append(Zone(threshold.rule_id, severity, _canonical(metric, float(value), unit),
                              key in _BELOW_KEYS, threshold.individual, shown))
    return zones


def _canonical(metric: str, limit: float, unit: str | None) -> float:
    """A limit held in the unit its rule compares in (glucose-hypo-severe: mg/dL), drawn in
    the metric's canonical unit."""
    spec = SPECS[Metric(metric)]
    if unit is None or unit == spec.canonical.value:
        return limit
    return spec.to_canonical(limit, Unit(unit))


def metric_figure(metric: str, *, raw: Sequence[Reading] = (), buckets: Sequence[Bucket] = (),
                  thresholds: Sequence[Threshold] = (), alerts: Sequence[Alert] = (),
                  zone: ZoneInfo, since: datetime | None = None,
                  until: datetime | None = None, height: int = 320) -> go.Figure:
    """One metric over time: readings (or daily min–max band and mean), limits, alerts.

    With `since` the time axis is the chosen range (`since` to `until`, else now): an alert
    that began before it is marked at the range's start with its first breach in words, so an
    old open alert never stretches a 7-day chart to a month."""
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
    zones = [z for t in thresholds for z in threshold_zones(t, metric)]
    values = [r.value for r in raw] + [b.min for b in buckets] + [b.max for b in buckets]
    y_range = _y_range(values, zones)
    for band in zones:
        _draw_zone(fig, band, y_range)
    end = until or datetime.now(UTC)
    shown = [a for a in alerts if a.metric == metric and (since is None or (
        a.last_breach_at >= since and a.first_breach_at <= end))]
    top = y_range[1] if y_range is not None else (max(values) if values else None)
    _mark_alerts(fig, shown, zone, top, since)
    if y_range is not None:
        fig.update_yaxes(range=list(y_range))
    if since is not None:
        fig.update_xaxes(range=[_wall(since, zone), _wall(end, zone)])
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      title={"text": label, "x": 0, "font": {"size": 15}}, yaxis_title=label,
                      xaxis_title=f"time ({zone.key})",
                      legend={"orientation": "h", "y": -0.25})
    return fig


def _y_range(values: Sequence[float], zones: Sequence[Zone]) -> tuple[float, float] | None:
    """Data and the nearest limits in view, with a margin; None leaves Plotly to choose."""
    if not values:
        return None
    lo, hi = min(values), max(values)
    span = max(hi - lo, 1.0)
    near = [z.limit for z in zones if lo - span <= z.limit <= hi + span]
    lo, hi = min([lo, *near]), max([hi, *near])
    pad = max((hi - lo) * 0.08, 0.5)
    return lo - pad, hi + pad


def _draw_zone(fig: go.Figure, band: Zone, y_range: tuple[float, float] | None) -> None:
    colour = SEVERITY_COLOUR[band.severity]
    bottom, top = y_range if y_range is not None else (band.limit - 50, band.limit + 50)
    y0, y1 = (min(bottom, band.limit), band.limit) if band.below else (band.limit,
                                                                        max(top, band.limit))
    sign = "≤" if band.below else "≥"
    who = " (individual)" if band.individual else ""
    fig.add_hrect(y0=y0, y1=y1, fillcolor=colour, opacity=0.10, line_width=0, layer="below")
    fig.add_hline(y=band.limit, line_dash="dash", line_color=colour, line_width=1,
                  annotation_text=f"{band.severity.upper()} {sign} "
                                  f"{band.shown or f'{band.limit:g}'}{who}",
                  annotation_position="bottom right" if band.below else "top right",
                  annotation_font_size=10)


def alert_value(alert: Alert) -> float | None:
    """The reading an alert was raised on: the engine's values.latest (or .worst) {"value": …}."""
    for key in ("latest", "worst"):
        found = alert.values.get(key)
        value = found.get("value") if isinstance(found, dict) else None
        if isinstance(value, Real) and not isinstance(value, bool):
            return float(value)
    return None


def _mark_alerts(fig: go.Figure, alerts: Sequence[Alert], zone: ZoneInfo,
                 top: float | None, since: datetime | None) -> None:
    """A marker per alert at its first breach, on its reading (or along the top edge); one
    that began before the range sits at its start and says when it began."""
    if not alerts:
        return
    ys = [alert_value(a) for a in alerts]
    earlier = [since is not None and a.first_breach_at < since for a in alerts]
    fig.add_trace(go.Scatter(
        x=[_wall(since if before and since else a.first_breach_at, zone)
           for a, before in zip(alerts, earlier, strict=True)],
        y=[y if y is not None else top for y in ys],
        mode="markers+text", name="alerts", text=[a.severity.upper() for a in alerts],
        textposition="top center",
        marker={"symbol": "triangle-down", "size": 14,
                "color": [SEVERITY_COLOUR.get(a.severity, "#425563") for a in alerts]},
        hovertext=[f"{a.message} (first breach {_wall(a.first_breach_at, zone):%d %b %H:%M}, "
                   "before this range)" if before else a.message
                   for a, before in zip(alerts, earlier, strict=True)], hoverinfo="text"))


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
                           y=[outcome_text(o.outcome) for o in ordered], orientation="h",
                           text=[o.alerts for o in ordered], marker_color="#005eb8"))
    fig.update_layout(xaxis_title="resolved alerts", height=120 + 28 * len(ordered),
                      margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return fig


def adherence_figure(adherence: float | None, received: int, expected: int) -> go.Figure:
    """Share of expected readings received, as a gauge with the counts beside it."""
    fig = go.Figure(go.Indicator(
        mode="gauge+number", value=round((adherence or 0.0) * 100, 1),
        number={"suffix": " %"},
        title={"text": f"Readings received: {received} of {expected} expected"},
        gauge={"axis": {"range": [0, 100]}, "bar": {"color": "#005eb8"},
               "steps": [{"range": [0, 70], "color": "rgba(213,40,27,0.15)"},
                         {"range": [70, 90], "color": "rgba(255,184,28,0.2)"},
                         {"range": [90, 100], "color": "rgba(0,150,57,0.15)"}]}))
    fig.update_layout(height=260, margin={"l": 20, "r": 20, "t": 60, "b": 10})
    return fig
