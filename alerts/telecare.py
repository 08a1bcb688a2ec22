"""Telecare events (fall, pendant, smoke, heat, flood, no activity) as red alerts for responders."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from alerts import outbox, store
from alerts.catalogue import load_catalogue
from telehub.domain.codes import Severity

# A telecare event is an emergency by definition: it opens (or repeats) a red alert of the
# episode `telecare-<event>` in the ingest transaction, with its outbox row, so the notifier
# publishes it to `telehub/v1/alerts/{team}/red` as soon as the batch commits. Nobody
# acknowledging it within the team's `telecare_escalation_minutes` (2 by default) escalates it
# (alerts.escalation).
EPISODE_PREFIX = "telecare-"
# What each event means, in the words a responder reads first.
EVENTS: Mapping[str, str] = {
    "fall": "Fall detected",
    "pendant": "Pendant alarm pressed",
    "smoke": "Smoke alarm",
    "heat": "Heat alarm (possible fire or dangerous heat)",
    "flood": "Flood detector triggered",
    "no-activity": "No activity detected in the home",
}
# What to do, in one sentence per event.
_ACTION: Mapping[str, str] = {
    "fall": "Call the person now; if there is no answer or they cannot get up, send a visit "
            "or an ambulance.",
    "pendant": "Call the person now and ask what they need; no answer means a visit.",
    "smoke": "Call the person now; if there is no answer or a fire, call 999 (fire service).",
    "heat": "Call the person now; if there is no answer or a fire, call 999 (fire service).",
    "flood": "Call the person now; arrange help to turn off the water if needed.",
    "no-activity": "Call the person now; no answer means a visit (key-safe details below).",
}

_PATIENTS_SQL = """
SELECT p.id, p.display_id, p.team_id, t.code AS team_code
FROM patients p JOIN teams t ON t.id = p.team_id WHERE p.id = ANY(%s)
"""
@dataclass(frozen=True)
class TelecareEvent:
    """One stored telecare event: which patient, what happened, when, from which device."""

    patient_id: int
    event: str
    time: datetime
    device: str            # the device id as the device names itself


def episode(event: str) -> str:
    """The alert episode of a telecare event, e.g. "telecare-fall"."""
    return EPISODE_PREFIX + event


def is_telecare(rule_id: str) -> bool:
    """True for the alerts telecare events raise."""
    return rule_id.startswith(EPISODE_PREFIX)


def episode_label(rule_id: str) -> str:
    """The words a nurse or responder reads for an alert's episode ("Fall detected", "Low
    oxygen saturation"), never its id: a telecare event's words, else the catalogue's."""
    if is_telecare(rule_id):
        return EVENTS.get(rule_id.removeprefix(EPISODE_PREFIX), rule_id)
    return load_catalogue().episode_label(rule_id)


def message(event: TelecareEvent, zone: ZoneInfo) -> str:
    """The alert's sentence: what happened, where it came from, when, what to do."""
    at = event.time.astimezone(zone).strftime("%H:%M on %d %b %Y")
    return (f"{EVENTS[event.event]} by telecare device {event.device} at {at}. "
            f"{_ACTION[event.event]}")


def raise_telecare_alerts(conn: psycopg.Connection, events: Sequence[TelecareEvent],
                          now: datetime, zone: ZoneInfo) -> dict[tuple[int, str], dict[str, Any]]:
    """Open or repeat a red alert per (patient, event) in the caller's transaction.

    Returns the written alerts by (patient id, event)."""
    if not events:
        return {}
    patient_ids = {e.patient_id for e in events}
    store.lock_patients(conn, patient_ids)
    cur = conn.cursor(row_factory=dict_row)
    targets = {r["id"]: store.Target(r["id"], r["team_id"], r["team_code"], r["display_id"])
               for r in cur.execute(_PATIENTS_SQL, (sorted(patient_ids),)).fetchall()}
    active = store.active_alerts(conn, patient_ids)
    latest: dict[tuple[int, str], TelecareEvent] = {}
    counts: dict[tuple[int, str], int] = {}
    first: dict[tuple[int, str], datetime] = {}
    for e in events:
        key = (e.patient_id, e.event)
        counts[key] = counts.get(key, 0) + 1
        first[key] = min(first.get(key, e.time), e.time)
        if key not in latest or e.time >= latest[key].time:
            latest[key] = e
    items = []
    for key, e in latest.items():
        raised = store.Raised(
            episode=episode(e.event), rule_id=episode(e.event), severity=Severity.RED,
            message=message(e, zone), metric=None, first=first[key], last=e.time,
            occurrences=counts[key],
            values={"rule": episode(e.event), "event": e.event, "device": e.device,
                    "time": e.time.isoformat()})
        items.append((targets[e.patient_id], raised))
    written = store.raise_alerts(conn, items, active, {}, now)
    for (pid, ep), alert in written.items():
        if (pid, ep) in active:
            # A second fall while the first is still open is news, even once acknowledged:
            # responders are told again (raise_alerts notifies only new or worse alerts).
            target = targets[pid]
            outbox.enqueue(conn, alert, "repeated", team_code=target.team_code,
                          display_id=target.display_id)
    return {(pid, ep[len(EPISODE_PREFIX):]): alert for (pid, ep), alert in written.items()}
