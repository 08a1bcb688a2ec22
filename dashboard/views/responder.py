"""Responder view: the live 24/7 queue of urgent alerts, each with the minimum context to act
(who, where, how to get in, who to call, advance decisions, latest vital signs, the care
plan's triggers) and the actions a responder records."""

from __future__ import annotations

import streamlit as st

from dashboard.client import session
from dashboard.components.queue_cards import NOTICE_KEY, queue_card, queue_order
from dashboard.components.times import format_local
from telehub.domain import clock
from telehub.domain.codes import Severity

# Urgent alerts must show fast: a fall reaches the queue within this many seconds.
REFRESH_S = 10


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
        queue_card(item, now)


def render() -> None:
    """The queue; it refreshes itself, keeping notes being typed."""
    st.title("Responder queue")
    _live_queue()


render()
