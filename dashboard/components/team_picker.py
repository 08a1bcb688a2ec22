"""The team picker of the team and outcomes pages: the teams the caller works in, own team first."""

from __future__ import annotations

import streamlit as st

from dashboard.client import session


def pick_team(key: str) -> int | None:
    """The chosen team's id (the signed-in user's own team by default); None with no teams."""
    with session.handling_errors():
        teams = {t.id: t.name for t in session.api().teams()}
    if not teams:
        st.info("No teams yet. An admin adds one with `telehub teams add`.")
        return None
    staff = session.current_staff()
    own = staff.team_id if staff is not None else None
    options = list(teams)
    return int(st.selectbox("Team", options, format_func=teams.__getitem__,
                            index=options.index(own) if own in options else 0, key=key))
