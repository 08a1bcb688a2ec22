"""The responder queue's cards: which alert comes first, each card's heading and the advance
decision flag in words, and the card itself (where, who to call, the latest vital signs, the
care plan's triggers and the actions a responder records)."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from dashboard.client import ApiError, session
from dashboard.client.alerts import RESPONDER_ACTIONS, QueueItem
from dashboard.components.formatting import (
    format_reading,
    metric_label,
    outcome_text,
    severity_chip,
)
from dashboard.components.text import escape_markdown
from dashboard.components.times import format_local, time_ago
from telehub.domain.codes import OUTCOMES

NOTICE_KEY = "responder_notice"
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
    parts += [f"{escape_markdown(item.display_name)} ({escape_markdown(item.display_id)})",
              alert.status]
    if alert.escalated:
        parts.append("ESCALATED")
    parts.append(time_ago(alert.first_breach_at, now))
    return " · ".join(parts)


def advance_decision_text(item: QueueItem) -> str:
    """The advance-decision flag in words (never only a colour)."""
    if not item.advance_decision:
        return "No advance decision recorded."
    return f"⚠️ **Advance decision in place** (ReSPECT/DNACPR): " \
           f"{escape_markdown(item.advance_decision_note or 'see the care record')}"


def _where(item: QueueItem) -> None:
    address = ", ".join(x for x in (item.address_line, item.postcode) if x)
    st.markdown(f"**Address** {escape_markdown(address or 'not recorded')}  \n"
                f"**Phone** {escape_markdown(item.phone or 'not recorded')}  \n"
                f"**Key safe** {escape_markdown(item.key_safe_note or 'no note')}  \n"
                f"**Access** {escape_markdown(item.access_note or 'no note')}")


def _people(item: QueueItem) -> None:
    if item.carers:
        lines = [f"- {escape_markdown(c.name)} ({escape_markdown(c.relationship)}"
                 f"{', next of kin' if c.next_of_kin else ''})"
                 f": {escape_markdown(c.phone or 'no phone')}" for c in item.carers]
        st.markdown("**Carers**\n" + "\n".join(lines))
    else:
        st.markdown("**Carers** none recorded")
    spa = escape_markdown(item.spa_phone or "not recorded")
    st.markdown(f"**Single point of access** {spa}")
    st.markdown(advance_decision_text(item))


def _clinical(item: QueueItem, now: datetime) -> None:
    if item.latest_vitals:
        st.markdown("**Latest vital signs**\n" + "\n".join(
            f"- {metric_label(v.metric)}: {_value(v.metric, v.value, v.unit)}"
            f" ({time_ago(v.time, now)})" for v in item.latest_vitals))
    else:
        st.markdown("**Latest vital signs** none received")
    if item.triggers:
        st.markdown("**When to act (care plan)**\n" + "\n".join(
            f"- {escape_markdown(t)}" for t in item.triggers))


def _value(metric: str, value: float, unit: str) -> str:
    try:
        return format_reading(metric, value)
    except ValueError:
        return f"{value:g} {unit}"


def _actions(item: QueueItem) -> None:
    alert_id = item.alert.id
    if item.actions:
        st.caption("Done so far: " + ", ".join(a.replace("-", " ") for a in item.actions))
    cols = st.columns([1.5, 1.5, 3, 1])
    # Once acknowledged, acknowledging again says nothing new: offer the next steps.
    choices = [a for a in RESPONDER_ACTIONS
               if not (a == "acknowledge" and item.alert.status == "acknowledged")]
    action = cols[0].selectbox("Action", choices,
                               format_func=RESPONDER_ACTIONS.__getitem__,
                               key=f"responder_action_{alert_id}")
    outcome = None
    if action == "resolved":
        outcome = cols[1].selectbox("Outcome", OUTCOMES, index=None,
                                    format_func=outcome_text,
                                    key=f"responder_outcome_{alert_id}")
    note = cols[2].text_input("Note", key=f"responder_note_{alert_id}",
                              placeholder="Who you spoke to, what you found")
    if not cols[3].button("Record", key=f"responder_save_{alert_id}", type="primary"):
        return
    if action == "resolved" and outcome is None:
        st.error("Choose the outcome before resolving.")
        return
    try:
        with session.handling_errors(soft=True):
            session.api().responder_action(alert_id, action, note.strip() or None, outcome)
    except ApiError as err:
        st.error(escape_markdown(err.message))
        return
    session.clear_reads()
    st.session_state[NOTICE_KEY] = (f"{RESPONDER_ACTIONS[action]} recorded for "
                                    f"{item.display_id}.")
    st.rerun()


def queue_card(item: QueueItem, now: datetime) -> None:
    """One urgent alert with the minimum context to act on it, and its actions."""
    with st.container(border=True):
        st.markdown(f"**{queue_heading(item, now)}**")
        st.markdown(escape_markdown(item.alert.message))
        st.caption(f"Raised {format_local(item.alert.first_breach_at, session.settings().zone)}")
        where, people, clinical = st.columns(3)
        with where:
            _where(item)
        with people:
            _people(item)
        with clinical:
            _clinical(item, now)
        _actions(item)
