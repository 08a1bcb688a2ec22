"""Words and numbers on screen: RAG chips, values with units, ages, device status."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from dashboard.components.text import escape_markdown
from telehub.domain.codes import CONDITION_LABELS, OUTCOME_LABELS, Severity
from telehub.domain.units import SPECS, Metric, format_value


class Rag(StrEnum):
    """Triage status of a patient or alert: red, amber or green."""

    RED = "red"
    AMBER = "amber"
    GREEN = "green"


# Colour is never the only signal: every chip carries its word and a shape.
_CHIP = {Rag.RED: "🔴 RED", Rag.AMBER: "🟠 AMBER", Rag.GREEN: "🟢 GREEN"}
_BADGE_COLOUR = {Rag.RED: "red", Rag.AMBER: "orange", Rag.GREEN: "green"}
# Order for triage: worst first.
RAG_ORDER = {Rag.RED: 0, Rag.AMBER: 1, Rag.GREEN: 2}


def rag_of(red_alerts: int, amber_alerts: int, overdue: bool = False) -> Rag:
    """RED with any open red alert; AMBER with an amber alert or overdue readings; else GREEN."""
    if red_alerts > 0:
        return Rag.RED
    if amber_alerts > 0 or overdue:
        return Rag.AMBER
    return Rag.GREEN


def rag_chip(rag: Rag | str) -> str:
    """The chip text, e.g. '🔴 RED'."""
    return _CHIP[Rag(rag)]


def rag_badge(rag: Rag | str) -> str:
    """A coloured Streamlit markdown badge that also says the word."""
    value = Rag(rag)
    return f":{_BADGE_COLOUR[value]}-badge[{_CHIP[value]}]"


def severity_chip(severity: str) -> str:
    """'🔴 RED', '🟠 AMBER' or 'ℹ️ INFO' for an alert severity."""
    if severity == Severity.INFO:
        return "ℹ️ INFO"
    return rag_chip(severity)


def metric_label(metric: str) -> str:
    """'SpO2', 'Weight', … with the canonical unit: 'SpO2 (%)' (unknown names as given)."""
    if metric not in Metric.__members__.values():
        return metric
    spec = SPECS[Metric(metric)]
    return f"{spec.label} ({spec.canonical.value})"


def format_reading(metric: str, value: float | None) -> str:
    """A value with its unit ('94 %', '82.4 kg'), or '—' when there is none."""
    if value is None:
        return "—"
    return format_value(Metric(metric), value)


def format_battery(percent: int | None) -> str:
    """'🔋 80 %', '🪫 12 % low' (below 20 %), or 'battery unknown'."""
    if percent is None:
        return "battery unknown"
    if percent < 20:
        return f"🪫 {percent} % low"
    return f"🔋 {percent} %"


def format_online(online: bool | None) -> str:
    """'online', 'offline' or 'status unknown', in words."""
    if online is None:
        return "status unknown"
    return "online" if online else "offline"


def format_adherence(share: float | None) -> str:
    """A share of expected readings received (0–1) as '87 %', or '—'."""
    if share is None:
        return "—"
    return f"{round(share * 100)} %"


def conditions_text(conditions: list[str]) -> str:
    """'heart failure, COPD' from ['heart-failure', 'copd']."""
    return ", ".join(CONDITION_LABELS.get(c, c.replace("-", " ")) for c in conditions) \
        or "none recorded"


def outcome_text(outcome: str | None) -> str:
    """'referred to GP' from 'referred-to-gp' ('' for none)."""
    if outcome is None:
        return ""
    return OUTCOME_LABELS.get(outcome, outcome.replace("-", " "))


def schedule_text(schedule: Iterable[tuple[str, object, str | None]]) -> str:
    """'SpO2 (%) 2×/day; Weight (kg) 1×/day (morning)' from (metric, per day, window), or
    'no schedule set' (markdown: the window is shown as written)."""
    return "; ".join(f"{metric_label(metric)} {per_day}×/day"
                     f"{f' ({escape_markdown(window)})' if window else ''}"
                     for metric, per_day, window in schedule) or "no schedule set"
