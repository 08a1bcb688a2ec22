"""Alert inbox: open alerts worst and newest first, each with its reason and actions with notes."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from dashboard.client import ApiError, Invalid, reads, session
from dashboard.client.alerts import Alert
from dashboard.components.formatting import outcome_text, severity_chip
from dashboard.components.times import format_local, time_ago
from telehub.domain import clock
from telehub.domain.codes import CLINICAL_ROLES, OUTCOMES, SEVERITIES, Role, severity_rank

ACTIONS = ("Acknowledge", "Resolve", "Escalate", "Assign", "Add note")
# Responders acknowledge and escalate; resolving and assigning are for the clinical team.
RESPONDER_ACTIONS = ("Acknowledge", "Escalate", "Add note")
PAGE = 25  # alert cards drawn at once: each card is a handful of widgets


def inbox_order(alerts: list[Alert]) -> list[Alert]:
    """Worst severity first, then the newest breach first."""
    return sorted(alerts, key=lambda a: (-severity_rank(a.severity),
                                         -a.last_breach_at.timestamp()))


def _act(alert: Alert, action: str, note: str, outcome: str | None,
         assignee: int | None) -> None:
    client = session.api()
    if action == "Acknowledge":
        client.acknowledge(alert.id, note)
    elif action == "Resolve":
        if outcome is None:
            raise Invalid(422, "Choose the outcome before resolving.")
        client.resolve(alert.id, outcome, note)
    elif action == "Escalate":
        client.escalate(alert.id, note)
    elif action == "Assign":
        if assignee is None:
            raise Invalid(422, "Choose who to assign the alert to.")
        client.assign(alert.id, assignee, note)
    elif action == "Add note":
        if not note:
            raise Invalid(422, "Write the note first.")
        client.add_note(alert.id, note)


def _actions() -> tuple[str, ...]:
    staff = session.current_staff()
    return RESPONDER_ACTIONS if staff is not None and staff.role == Role.RESPONDER else ACTIONS


def _assignees(team_id: int) -> dict[int, str]:
    """Who an alert of this team can be given to (asked once per team per run)."""
    cache: dict[int, dict[int, str]] = st.session_state.setdefault("inbox_assignees", {})
    if team_id not in cache:
        with session.handling_errors():
            cache[team_id] = {s.id: f"{s.display_name} ({s.role})"
                              for s in session.api().team_staff(team_id)}
    return cache[team_id]


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


def _heading(alert: Alert, names: dict[int, str]) -> str:
    """'🔴 RED · Ann Able (TH-000001) · spo2-scale1-red · open · assigned to …'."""
    who = alert.patient_display_id or str(alert.patient_id)
    if alert.patient_id in names:
        who = f"{names[alert.patient_id]} ({who})"
    heading = (f"{severity_chip(alert.severity)} · {who}"
               f" · {alert.rule_id} · {alert.status}{' · ESCALATED' if alert.escalated else ''}")
    if alert.assignee_id is not None:
        people = _assignees(alert.team_id) if names else {}
        heading += f" · assigned to {people.get(alert.assignee_id, 'a colleague')}"
    return heading


def _action_row(alert: Alert) -> None:
    """Pick an action (with its outcome or assignee), add a note, save."""
    cols = st.columns([1.3, 1.5, 3, 1])
    action = cols[0].selectbox("Action", _actions(), key=f"action_{alert.id}")
    outcome = assignee = None
    if action == "Resolve":
        outcome = cols[1].selectbox("Outcome", OUTCOMES, index=None, key=f"outcome_{alert.id}",
                                    format_func=outcome_text)
    elif action == "Assign":
        people = _assignees(alert.team_id)
        assignee = cols[1].selectbox("Assign to", list(people), index=None,
                                     format_func=people.__getitem__,
                                     key=f"assignee_{alert.id}")
    note = cols[2].text_input("Note", key=f"note_{alert.id}",
                              placeholder="What you did or why")
    if not cols[3].button("Save", key=f"save_{alert.id}", type="primary"):
        return
    try:
        with session.handling_errors(soft=True):
            _act(alert, action, note.strip(), outcome, assignee)
    except ApiError as err:
        st.error(err.message)
        return
    session.clear_reads()
    st.session_state["inbox_notice"] = f"{action} saved for alert {alert.id}."
    st.rerun()


def _alert_card(alert: Alert, now: datetime, names: dict[int, str]) -> None:
    zone = session.settings().zone
    with st.container(border=True):
        st.markdown(f"**{_heading(alert, names)}**")
        st.write(alert.message)
        last = alert.last_breach_at
        st.caption(f"First {format_local(alert.first_breach_at, zone)} · last "
                   f"{format_local(last, zone)} ({time_ago(last, now)})"
                   f" · {alert.occurrences} reading(s)")
        _action_row(alert)
        left, right = st.columns([1, 4])
        if names and left.button("Open patient", key=f"open_{alert.id}"):
            st.session_state[session.PATIENT_KEY] = alert.patient_id
            st.switch_page("views/patient.py")
        if right.toggle("History and visit details", key=f"history_{alert.id}"):
            _history(alert.id)


def _history(alert_id: int) -> None:
    """The alert's steps, and where to go for a visit (address, key contact)."""
    zone = session.settings().zone
    with session.handling_errors():
        detail = session.api().alert_detail(alert_id)
    context = detail.patient
    if context is not None:
        where = ", ".join(x for x in (context.address_line, context.postcode) if x)
        st.markdown(f"**Visit** {context.display_id}: {where or 'no address recorded'}"
                    f" · key contact {context.phone or 'not recorded'}")
    for event in detail.events:
        note = f" — {event.note}" if event.note else ""
        st.markdown(f"- {format_local(event.at, zone)}: **{event.kind}** by {event.actor}{note}")


def render() -> None:
    """Open and acknowledged alerts to act on; resolved ones as history."""
    st.title("Alert inbox")
    notice = st.session_state.pop("inbox_notice", None)
    if notice:
        st.success(notice)
    now = clock.now()
    open_tab, resolved_tab = st.tabs(["Open", "Resolved"])
    with session.handling_errors():
        active = session.api().alerts(status=["open", "acknowledged"])
    names = _patient_names()
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
            _alert_card(alert, now, names)
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
            st.markdown(f"- {severity_chip(alert.severity)} {alert.patient_display_id or ''} "
                        f"{alert.rule_id}: {alert.message} — **{alert.outcome or ''}** "
                        f"({format_local(alert.resolved_at, zone)})")


render()
