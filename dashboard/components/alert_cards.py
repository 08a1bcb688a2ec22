"""The alert inbox's cards: worst-first order, each alert's heading, the actions a nurse or a
responder records with a note, and the alert's history with the visit details."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import streamlit as st

from dashboard.client import ApiError, Invalid, session
from dashboard.client.alerts import Alert, AlertEvent
from dashboard.components.formatting import outcome_text, severity_chip
from dashboard.components.text import escape_markdown
from dashboard.components.times import format_local, time_ago
from telehub.domain.codes import OUTCOMES, Role, severity_rank

ACTIONS = ("Acknowledge", "Resolve", "Escalate", "Assign", "Add note")
# Responders acknowledge and escalate; resolving and assigning are for the clinical team.
INBOX_RESPONDER_ACTIONS = ("Acknowledge", "Escalate", "Add note")


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
    responder = staff is not None and staff.role == Role.RESPONDER
    return INBOX_RESPONDER_ACTIONS if responder else ACTIONS


def _assignees(team_id: int) -> dict[int, str]:
    """Who an alert of this team can be given to (asked once per team per run)."""
    cache: dict[int, dict[int, str]] = st.session_state.setdefault("inbox_assignees", {})
    if team_id not in cache:
        with session.handling_errors():
            cache[team_id] = {s.id: f"{s.display_name} ({s.role})"
                              for s in session.api().team_staff(team_id)}
    return cache[team_id]


def _heading(alert: Alert, names: dict[int, str]) -> str:
    """'🔴 RED · Ann Able (TH-000001) · Low oxygen saturation · open · assigned to …'."""
    who = escape_markdown(alert.patient_display_id or str(alert.patient_id))
    if alert.patient_id in names:
        who = f"{escape_markdown(names[alert.patient_id])} ({who})"
    heading = (f"{severity_chip(alert.severity)} · {who}"
               f" · {escape_markdown(alert.title)} · {alert.status}"
               f"{' · ESCALATED' if alert.escalated else ''}")
    if alert.assignee_id is not None:
        people = _assignees(alert.team_id) if names else {}
        assignee = people.get(alert.assignee_id, "a colleague")
        heading += f" · assigned to {escape_markdown(assignee)}"
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
        st.error(escape_markdown(err.message))
        return
    session.clear_reads()
    st.session_state["inbox_notice"] = f"{action} saved for alert {alert.id}."
    st.rerun()


def alert_card(alert: Alert, now: datetime, names: dict[int, str]) -> None:
    """One alert: what happened, when, the actions with a note, its history and visit details
    (`names` are patients' names for the clinical team; empty for responders)."""
    zone = session.settings().zone
    with st.container(border=True):
        st.markdown(f"**{_heading(alert, names)}**")
        st.markdown(escape_markdown(alert.message))
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
        st.markdown(f"**Visit** {escape_markdown(context.display_id)}: "
                    f"{escape_markdown(where or 'no address recorded')}"
                    f" · key contact {escape_markdown(context.phone or 'not recorded')}")
    for event in detail.events:
        st.markdown(event_line(event, zone))


def event_line(event: AlertEvent, zone: ZoneInfo) -> str:
    """'- 03 Dec 09:12: **acknowledged** by Grace Okafor — called the patient', as markdown
    (who and the note shown as they were written)."""
    note = f" — {escape_markdown(event.note)}" if event.note else ""
    return (f"- {format_local(event.at, zone)}: **{escape_markdown(event.kind)}** by "
            f"{escape_markdown(event.actor)}{note}")
