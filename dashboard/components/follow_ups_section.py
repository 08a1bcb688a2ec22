"""Follow-up tasks after discharge (caseload page): what is due, and marking one done."""

from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st

from dashboard.client import ApiError, session
from dashboard.client.episodes import FollowUp
from dashboard.components.text import escape_markdown
from dashboard.components.times import due_words
from telehub.domain import clock

NOTICE_KEY = "follow_up_notice"


def due_text(task: FollowUp, today: date) -> str:
    """'⚠️ OVERDUE (due 24 Nov 2026)', 'due today' or 'due 28 Nov 2026'."""
    when = due_words(task.due_on, today)
    if when == "overdue":
        return f"⚠️ OVERDUE (due {task.due_on:%d %b %Y})"
    return "due today" if when == "today" else f"due {task.due_on:%d %b %Y}"


def follow_ups_section(team_id: int) -> None:
    """The team's open follow-up tasks, earliest first, and a way to close one."""
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        st.success(notice)
    tasks = session.read_or_warn(lambda: session.api().follow_ups(team_id),
                                 "Follow-up tasks could not be loaded")
    if tasks is None:
        return
    if not tasks:
        st.caption("No follow-ups after discharge are open. Recording a discharge on the "
                   "patient page creates one.")
        return
    today = clock.today(session.settings().zone)
    st.dataframe(pd.DataFrame([{"Due": due_text(t, today), "Patient": t.display_id,
                                "Task": t.title} for t in tasks]),
                 hide_index=True, width="stretch", key="follow_ups_table")
    labels = {t.id: f"{t.display_id}: {t.title} ({due_text(t, today)})" for t in tasks}
    cols = st.columns([3, 3, 1])
    task_id = cols[0].selectbox("Task", list(labels), format_func=labels.__getitem__,
                                index=None, key="follow_up_pick", placeholder="Choose a task…")
    note = cols[1].text_input("What was done", key="follow_up_note")
    if not cols[2].button("Mark done", key="follow_up_done") or task_id is None:
        return
    try:
        with session.handling_errors(soft=True):
            session.api().follow_up_done(int(task_id), note.strip() or None)
    except ApiError as err:
        st.error(escape_markdown(err.message))
        return
    st.session_state[NOTICE_KEY] = f"Follow-up for {labels[task_id].split(':')[0]} marked done."
    st.rerun()
