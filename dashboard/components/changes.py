"""Changes from the patient page's sections: who may make them, and saving one (say why it was
refused beside the form, or note it and redraw)."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from dashboard.client import ApiError, session
from dashboard.components.text import escape_markdown
from telehub.domain.codes import CLINICAL_ROLES

NOTICE_KEY = "patient_notice"


def can_edit() -> bool:
    """Whether the signed-in user looks after the caseload (nurse or matron) and may change it."""
    staff = session.current_staff()
    return staff is not None and staff.role in CLINICAL_ROLES


def save_change(call: Callable[[], object], notice: str) -> None:
    """Run one change; on success say so and redraw, on refusal say why beside the form."""
    try:
        with session.handling_errors(soft=True):
            call()
    except ApiError as err:
        st.error(escape_markdown(err.message))
        return
    session.clear_reads()
    st.session_state[NOTICE_KEY] = notice
    st.rerun()
