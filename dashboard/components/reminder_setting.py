"""The matron's setting for reminders of red alerts nobody has acknowledged: every N minutes to
the team's red topic, or off."""

from __future__ import annotations

import streamlit as st

from dashboard.client import ApiError, session
from dashboard.components.team_picker import pick_team
from dashboard.components.text import escape_markdown
from telehub.domain.codes import Role

DEFAULT_MINUTES = 30   # the teams table's default (telehub/db/migrations/0006)
MINUTES_RANGE = (5, 240)


def reminder_setting() -> None:
    """For a matron or an admin: how often unacknowledged red alerts remind the team."""
    staff = session.current_staff()
    if staff is None or staff.role not in (Role.ADMIN, Role.MATRON):
        return
    with st.expander("Reminders of unacknowledged red alerts"):
        team_id = pick_team("reminder_team")
        if team_id is None:
            return
        with session.handling_errors():
            minutes = session.api().reminders(team_id)
        st.caption("A red alert nobody has acknowledged notifies the team again every so many "
                   "minutes until someone does, besides escalating to the responders; never "
                   "while a nurse watches it.")
        on = st.checkbox("Remind", value=minutes is not None, key=f"reminders_on_{team_id}")
        every = st.number_input("Every (minutes)", min_value=MINUTES_RANGE[0],
                                max_value=MINUTES_RANGE[1], step=5,
                                value=minutes or DEFAULT_MINUTES, disabled=not on,
                                key=f"reminders_minutes_{team_id}")
        if not st.button("Save reminders", key=f"reminders_save_{team_id}"):
            return
        try:
            with session.handling_errors(soft=True):
                session.api().set_reminders(team_id, int(every) if on else None)
        except ApiError as err:
            st.error(escape_markdown(err.message))
            return
        st.session_state["inbox_notice"] = (f"Reminders every {int(every)} minutes saved."
                                            if on else "Reminders switched off.")
        st.rerun()
