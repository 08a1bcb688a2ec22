"""Responder view: the live 24/7 queue of urgent alerts, each with the minimum context to act
(who, where, how to get in, who to call, advance decisions, latest vital signs, the care
plan's triggers) and the actions a responder records."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from dashboard.client import ApiError, session
from dashboard.client.alerts import RESPONDER_ACTIONS, QueueItem
from dashboard.components.formatting import format_reading, metric_label, outcome_text
from dashboard.components.queue_cards import advance_decision_text, queue_heading, queue_order
from dashboard.components.times import format_local, time_ago
from telehub.domain import clock
from telehub.domain.codes import OUTCOMES, Severity

# Urgent alerts must show fast: a fall reaches the queue within this many seconds.
REFRESH_S = 10
NOTICE_KEY = "responder_notice"
def _where(item: QueueItem) -> None:
    address = ", ".join(x for x in (item.address_line, item.postcode) if x)
    st.markdown(f"**Address** {address or 'not recorded'}  \n"
                f"**Phone** {item.phone or 'not recorded'}  \n"
                f"**Key safe** {item.key_safe_note or 'no note'}  \n"
                f"**Access** {item.access_note or 'no note'}")


def _people(item: QueueItem) -> None:
    if item.carers:
        lines = [f"- {c.name} ({c.relationship}{', next of kin' if c.next_of_kin else ''})"
                 f": {c.phone or 'no phone'}" for c in item.carers]
        st.markdown("**Carers**\n" + "\n".join(lines))
    else:
        st.markdown("**Carers** none recorded")
    st.markdown(f"**Single point of access** {item.spa_phone or 'not recorded'}")
    st.markdown(advance_decision_text(item))


def _clinical(item: QueueItem, now: datetime) -> None:
    if item.latest_vitals:
        st.markdown("**Latest vital signs**\n" + "\n".join(
            f"- {metric_label(v.metric)}: {_value(v.metric, v.value, v.unit)}"
            f" ({time_ago(v.time, now)})" for v in item.latest_vitals))
    else:
        st.markdown("**Latest vital signs** none received")
    if item.triggers:
        st.markdown("**When to act (care plan)**\n" + "\n".join(f"- {t}" for t in item.triggers))


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
        st.error(err.message)
        return
    session.clear_reads()
    st.session_state[NOTICE_KEY] = (f"{RESPONDER_ACTIONS[action]} recorded for "
                                    f"{item.display_id}.")
    st.rerun()


def _card(item: QueueItem, now: datetime) -> None:
    with st.container(border=True):
        st.markdown(f"**{queue_heading(item, now)}**")
        st.write(item.alert.message)
        st.caption(f"Raised {format_local(item.alert.first_breach_at, session.settings().zone)}")
        where, people, clinical = st.columns(3)
        with where:
            _where(item)
        with people:
            _people(item)
        with clinical:
            _clinical(item, now)
        _actions(item)


@st.fragment(run_every=REFRESH_S)
def _live_queue() -> None:
    with session.handling_errors():
        queue = session.api().responder_queue()
    now = clock.now()
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        st.success(notice)
    red = sum(1 for q in queue if q.alert.severity == Severity.RED)
    st.caption(f"{len(queue)} urgent alerts · {red} RED · updated "
               f"{format_local(now, session.settings().zone)} (refreshes every {REFRESH_S} s)")
    if not queue:
        st.info("No urgent alerts. Red, escalated and telecare alerts of the teams you cover "
                f"appear here within {REFRESH_S} s.")
        return
    for item in queue_order(queue):
        _card(item, now)


def render() -> None:
    """The queue; it refreshes itself, keeping notes being typed."""
    st.title("Responder queue")
    _live_queue()


render()
