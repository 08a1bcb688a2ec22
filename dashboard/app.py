"""The dashboard's entry script (`telehub dashboard` runs `streamlit run` on it).

Pages depend on the signed-in role; everything is read through the API with the
user's token, never from the database.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard.client import ApiError, session
from dashboard.components.text import escape_markdown
from telehub.domain.codes import Role

VIEWS = Path(__file__).parent / "views"

# Which pages each role sees (the API enforces the same rules; this keeps the menu honest).
ROLE_PAGES: dict[str, tuple[str, ...]] = {
    Role.NURSE: ("caseload", "alerts", "patient"),
    Role.MATRON: ("caseload", "alerts", "patient", "team", "outcomes"),
    Role.RESPONDER: ("responder", "alerts"),
    Role.MANAGER: ("team", "outcomes"),
    Role.ADMIN: ("devices", "team", "outcomes"),
}
TITLES = {"caseload": ("Caseload", "👥"), "alerts": ("Alert inbox", "🔔"),
          "patient": ("Patient", "🩺"), "devices": ("Devices", "📟"), "team": ("Team view", "📊"),
          "responder": ("Responder queue", "🚨"), "outcomes": ("Outcomes and MDT", "🏥")}


def _sidebar() -> None:
    staff = session.current_staff()
    if staff is None:
        return
    with st.sidebar:
        team = f" · {escape_markdown(staff.team_code)}" if staff.team_code else ""
        st.markdown(f"Signed in as **{escape_markdown(staff.display_name)}**  \n"
                    f"{staff.role}{team}")
        if st.button("Sign out", key="signout"):
            try:
                session.api().sign_out()
            except ApiError:
                pass  # the token is forgotten here whether or not the API heard
            session.sign_out("You have signed out.")
            st.rerun()


def main() -> None:
    """Build the navigation for whoever is signed in and run the chosen page."""
    st.set_page_config(page_title="Telehub", page_icon="🩺", layout="wide")
    staff = session.current_staff()
    if staff is None:
        pages = [st.Page(VIEWS / "signin.py", title="Sign in", icon="🔑", default=True)]
    else:
        names = ROLE_PAGES.get(staff.role, ())
        pages = [st.Page(VIEWS / f"{name}.py", title=TITLES[name][0], icon=TITLES[name][1],
                         default=i == 0) for i, name in enumerate(names)]
    _sidebar()
    st.navigation(pages).run()


main()
