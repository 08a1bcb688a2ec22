"""Alert inbox: open alerts worst and newest first, each with its reason and actions with notes;
watched alerts apart until their watch ends or a worse reading re-raises them."""

from __future__ import annotations

import streamlit as st

from dashboard.client import ApiError, reads, session
from dashboard.components.alert_cards import alert_card, inbox_order
from dashboard.components.formatting import outcome_text, severity_chip
from dashboard.components.reminder_setting import reminder_setting
from dashboard.components.text import escape_markdown
from dashboard.components.times import format_local
from telehub.domain import clock
from telehub.domain.codes import CLINICAL_ROLES, SEVERITIES

PAGE = 25  # alert cards drawn at once: each card is a handful of widgets


def _patient_names() -> dict[int, str]:
    """Names for the clinical team (responders see display ids only)."""
    staff = session.current_staff()
    if staff is None or staff.role not in CLINICAL_ROLES:
        return {}
    try:
        with session.handling_errors(soft=True):
            return {r.patient_id: r.name for r in reads.caseload().rows}
    except ApiError:
        return {}


def render() -> None:
    """Open and acknowledged alerts to act on; resolved ones as history."""
    st.title("Alert inbox")
    notice = st.session_state.pop("inbox_notice", None)
    if notice:
        st.success(notice)
    now = clock.now()
    with session.handling_errors():
        everything = session.api().alerts(status=["open", "acknowledged"])
    active = [a for a in everything if not a.watched]
    watched = [a for a in everything if a.watched]
    open_tab, watched_tab, resolved_tab = st.tabs(["Open", f"Watched ({len(watched)})",
                                                   "Resolved"])
    names = _patient_names()
    with watched_tab:
        st.caption("Reviewed alerts a nurse is watching: no reminders or escalation until the "
                   "watch ends; a worse reading brings one back at once.")
        if not watched:
            st.info("No alerts are being watched.")
        for alert in sorted(watched, key=lambda a: a.watch_until or a.created_at):
            alert_card(alert, now, names)
    with open_tab:
        worst_first = [s.value for s in reversed(SEVERITIES)]
        severities = st.multiselect("Severity", worst_first, default=worst_first,
                                    key="inbox_severity",
                                    format_func=severity_chip)
        shown = [a for a in inbox_order(active) if a.severity in severities]
        st.caption(f"{len(shown)} of {len(active)} open or acknowledged alerts")
        if not active:
            st.info("No open alerts. New alerts appear here as readings arrive.")
        elif not shown:
            st.info("No alerts of the chosen severities. Choose more severities above.")
        limit = int(st.session_state.get("inbox_limit", PAGE))
        for alert in shown[:limit]:
            alert_card(alert, now, names)
        if len(shown) > limit and st.button(f"Show {min(PAGE, len(shown) - limit)} more",
                                            key="inbox_more"):
            st.session_state["inbox_limit"] = limit + PAGE
            st.rerun()
    with resolved_tab:
        with session.handling_errors():
            resolved = session.api().alerts(status=["resolved"], limit=100)
        if not resolved:
            st.info("No resolved alerts yet.")
        zone = session.settings().zone
        for alert in sorted(resolved, key=lambda a: a.resolved_at or a.created_at, reverse=True):
            st.markdown(f"- {severity_chip(alert.severity)} "
                        f"{escape_markdown(alert.patient_display_id or '')} "
                        f"{escape_markdown(alert.title)}: {escape_markdown(alert.message)} — "
                        f"**{outcome_text(alert.outcome)}** "
                        f"({format_local(alert.resolved_at, zone)})")
    reminder_setting()


render()
