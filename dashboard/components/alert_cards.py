"""The alert inbox's cards: worst-first order, each alert's heading, the actions a nurse or a
responder records with a note (a watch among them), what a watch has seen, and the alert's
history with the visit details."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import streamlit as st

from dashboard.client import ApiError, Invalid, session
from dashboard.client.alerts import Alert, AlertEvent
from dashboard.components.formatting import outcome_text, severity_chip
from dashboard.components.text import escape_markdown
from dashboard.components.times import format_local, time_ago
from telehub.domain import clock
from telehub.domain.codes import OUTCOMES, Role, severity_rank

ACTIONS = ("Acknowledge", "Watch", "Resolve", "Escalate", "Assign", "Add note")
# Responders acknowledge, watch and escalate; resolving and assigning are for the clinical team.
INBOX_RESPONDER_ACTIONS = ("Acknowledge", "Escalate", "Add note")
STOP_WATCH = "Stop watching"
# How long a nurse may watch a reviewed alert (the API allows 15 minutes to 14 days).
WATCH_FOR = {"2 hours": timedelta(hours=2), "4 hours": timedelta(hours=4),
             "8 hours": timedelta(hours=8), "24 hours": timedelta(hours=24),
             "2 days": timedelta(days=2), "3 days": timedelta(days=3),
             "7 days": timedelta(days=7), "14 days": timedelta(days=14)}


def inbox_order(alerts: list[Alert]) -> list[Alert]:
    """Worst severity first, then the newest breach first."""
    return sorted(alerts, key=lambda a: (-severity_rank(a.severity),
                                         -a.last_breach_at.timestamp()))


def _act(alert: Alert, action: str, note: str, outcome: str | None,
         assignee: int | None, watch_for: timedelta | None = None) -> None:
    client = session.api()
    if action == "Acknowledge":
        client.acknowledge(alert.id, note)
    elif action == "Watch":
        if watch_for is None:
            raise Invalid(422, "Choose how long to watch the alert.")
        if len(note) < 3:
            raise Invalid(422, "Say why you are watching it (in the note).")
        client.watch(alert.id, clock.now() + watch_for, note)
    elif action == STOP_WATCH:
        client.stop_watch(alert.id)
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


def _actions(alert: Alert) -> tuple[str, ...]:
    staff = session.current_staff()
    responder = staff is not None and staff.role == Role.RESPONDER
    actions = INBOX_RESPONDER_ACTIONS if responder else ACTIONS
    return (STOP_WATCH, *actions) if alert.watched else actions


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
    if alert.watch_until is not None:
        heading += f" · 👁 WATCHED until {format_local(alert.watch_until, session.settings().zone)}"
    if alert.assignee_id is not None:
        people = _assignees(alert.team_id) if names else {}
        assignee = people.get(alert.assignee_id, "a colleague")
        heading += f" · assigned to {escape_markdown(assignee)}"
    return heading


def _action_row(alert: Alert) -> None:
    """Pick an action (with its outcome or assignee), add a note, save."""
    cols = st.columns([1.3, 1.5, 3, 1])
    action = cols[0].selectbox("Action", _actions(alert), key=f"action_{alert.id}")
    outcome = assignee = None
    watch_for: timedelta | None = None
    if action == "Watch":
        picked = cols[1].selectbox("Watch for", list(WATCH_FOR), index=None,
                                   key=f"watch_for_{alert.id}")
        watch_for = WATCH_FOR[picked] if picked else None
    elif action == "Resolve":
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
            _act(alert, action, note.strip(), outcome, assignee, watch_for)
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
        watch_line = watch_text(alert, zone)
        if watch_line:
            st.info(watch_line)
        _action_row(alert)
        left, right = st.columns([1, 4])
        if names and left.button("Open patient", key=f"open_{alert.id}"):
            st.session_state[session.PATIENT_KEY] = alert.patient_id
            st.switch_page("views/patient.py")
        if right.toggle("History and visit details", key=f"history_{alert.id}"):
            _history(alert.id)


def _so_far(seen: dict[str, Any]) -> str:
    n = int(seen.get("occurrences") or 0)
    text = (f"{n} reading{'s' if n != 1 else ''} breached the rule meanwhile" if n else
            "no reading breached the rule meanwhile")
    worst = (seen.get("worst") or {}).get("shown")
    return text + (f"; worst {escape_markdown(str(worst))}" if worst else "")


_HOW = {"ended": "its watch ended", "stopped": "its watch was stopped",
        "higher-severity": "re-raised during its watch: a higher severity",
        "new-rule": "re-raised during its watch: a new rule of the episode"}


def watch_text(alert: Alert, zone: ZoneInfo) -> str:
    """What a watch has seen: while watched, since when and why; after one, how it ended and
    what happened meanwhile; '' when the alert was never watched."""
    if alert.watched:
        return (f"Watching until {format_local(alert.watch_until, zone)}: "
                f"{escape_markdown(alert.watch_reason or '')} — {_so_far(alert.watch or {})}.")
    done = alert.last_watch
    if not done or alert.status == "resolved":
        return ""
    how = _HOW.get(str(done.get("how")), str(done.get("how")))
    return (f"Back in the inbox at {format_local(done.get('ended_at'), zone)}, {how} "
            f"(watched for: {escape_markdown(str(done.get('reason') or ''))}) — "
            f"{_so_far(done)}.")


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
