"""The weekly MDT review list: a preview table and the CSV download (caseload and outcomes)."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pandas as pd
import streamlit as st

from dashboard.client import session
from telehub.domain import clock


def week_span_text(ending: date) -> str:
    """The MDT week in words: the 7 days that end on `ending`, both days counted."""
    return f"{ending - timedelta(days=6):%a %d %b} to {ending:%a %d %b %Y}"


def mdt_frame(csv_text: str) -> pd.DataFrame:
    """The CSV as a table (every column as text, as it will be read in the meeting)."""
    if not csv_text.strip():
        return pd.DataFrame()
    return pd.read_csv(io.StringIO(csv_text), dtype=str, keep_default_na=False)


def mdt_section(team_id: int, key: str) -> None:
    """Pick the week, see who is on the list, download it as CSV.

    The week is the 7 days that end on the chosen day, today unless changed (the API's own
    default): the meeting looks back over the week before it, so a Monday meeting still sees
    the weekend's red alerts and last week's admissions."""
    today = clock.today(session.settings().zone)
    ending = st.date_input("Week ending", value=today, key=f"{key}_week")
    st.caption(f"The 7 days {week_span_text(ending)}")
    csv_text = session.read_or_warn(lambda: session.api().mdt_csv(team_id, ending),
                                    "The MDT list could not be prepared")
    if csv_text is None:
        return
    frame = mdt_frame(csv_text)
    if frame.empty:
        st.info("Nobody is on this week's MDT list: no red alerts, admissions, overdue "
                "reviews or rising risk.")
    else:
        st.caption(f"{len(frame)} patients for the MDT review")
        st.dataframe(frame, hide_index=True, width="stretch", key=f"{key}_table")
    st.download_button("Download the MDT list (CSV)", data=csv_text.encode(),
                       file_name=f"mdt-{ending.isoformat()}.csv", mime="text/csv",
                       key=f"{key}_download")
