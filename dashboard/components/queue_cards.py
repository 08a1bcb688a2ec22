"""The responder queue's words: which alert comes first, each card's heading, the advance
decision flag (pure functions, so they are tested without a page)."""

from __future__ import annotations

from datetime import datetime

from dashboard.client.alerts import QueueItem
from dashboard.components.formatting import severity_chip
from dashboard.components.times import time_ago

EVENT_WORDS = {"fall": "FALL", "pendant": "PENDANT PRESSED", "smoke": "SMOKE ALARM",
               "heat": "HEAT ALARM", "flood": "FLOOD ALARM", "no-activity": "NO ACTIVITY"}


def queue_order(queue: list[QueueItem]) -> list[QueueItem]:
    """Unacknowledged telecare events (a fall, a pendant, a smoke alarm) first, since someone
    may be on the floor now; otherwise the API's order (unacknowledged, escalated, oldest)."""
    return sorted(queue, key=lambda q: not (q.telecare_event and q.alert.status == "open"))


def queue_heading(item: QueueItem, now: datetime) -> str:
    """'🔴 RED · FALL · Patricia Clegg (TH-000003) · open · 3 min ago'."""
    alert = item.alert
    parts = [severity_chip(alert.severity)]
    if item.telecare_event:
        parts.append(EVENT_WORDS.get(item.telecare_event, item.telecare_event.upper()))
    parts += [f"{item.display_name} ({item.display_id})", alert.status]
    if alert.escalated:
        parts.append("ESCALATED")
    parts.append(time_ago(alert.first_breach_at, now))
    return " · ".join(parts)


def advance_decision_text(item: QueueItem) -> str:
    """The advance-decision flag in words (never only a colour)."""
    if not item.advance_decision:
        return "No advance decision recorded."
    return f"⚠️ **Advance decision in place** (ReSPECT/DNACPR): " \
           f"{item.advance_decision_note or 'see the care record'}"
