"""Device rules run by the scheduler: devices offline or silent, and lost messages (seq gaps)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from alerts import store
from alerts.catalogue import Rule, load_catalogue
from alerts.patient_batches import PASS_BATCH_PATIENTS, patient_batches
from alerts.sentences import render
from alerts.thresholds import Subject, load_parameters, load_subjects

# Candidates are fetched with the widest window any sensible override would use.
_LOOKBACK = timedelta(days=30)

_DEVICES_SQL = """
SELECT d.patient_id, d.device_id, d.kind::text AS kind, d.online, d.status_at,
       greatest(d.last_seen_at, d.status_at, d.created_at) AS seen
FROM devices d JOIN patients p ON p.id = d.patient_id
WHERE d.patient_id = ANY(%b::bigint[]) AND d.active AND p.status = 'active'
  AND (p.paused_until IS NULL OR p.paused_until <= %s)
"""
_FLAGGED_SQL = ("SELECT patient_id FROM alerts WHERE patient_id = ANY(%b::bigint[]) "
                "AND rule_id = %s "
                "AND status <> 'resolved'")
_GAPS_SQL = """
SELECT d.patient_id, d.device_id, sum(g.missing)::bigint AS missing,
       min(g.detected_at) AS first, max(g.detected_at) AS last
FROM device_seq_gaps g JOIN devices d ON d.id = g.device_id
WHERE d.patient_id = ANY(%b::bigint[]) AND g.detected_at > %s AND g.detected_at <= %s
GROUP BY d.patient_id, d.device_id
"""


def _silent(row: Mapping[str, Any], params: Mapping[str, Any], now: datetime) -> bool:
    """Offline beyond the grace period, or not heard from (reading, event or status) for the
    rule's hours. A device whose retained status says it is connected is not silent: a
    pendant or smoke alarm rightly sends nothing for weeks, and its last will would say
    offline if the connection died."""
    if row["online"] is not True and \
            now - row["seen"] >= timedelta(hours=float(params.get("hours", 24))):
        return True
    grace = timedelta(minutes=float(params.get("offline_minutes", 60)))
    return row["online"] is False and row["status_at"] is not None \
        and now - row["status_at"] >= grace


def _raise(conn: psycopg.Connection, s: Subject, rule: Rule, message: str,
           values: dict[str, Any], first: datetime, last: datetime,
           active: Mapping[tuple[int, str], Any], resolved: Mapping[tuple[int, str], Any],
           now: datetime) -> bool:
    raised = store.Raised(episode=rule.episode, rule_id=rule.id, severity=rule.severity,
                          message=message, metric=None, first=first, last=last,
                          values={"rule": rule.id, **values},
                          suppress_hours=rule.suppression_hours)
    return store.raise_alert(conn, patient_id=s.id, team_id=s.team_id, team_code=s.team_code,
                             display_id=s.display_id, raised=raised,
                             active=active.get((s.id, rule.episode)),
                             resolved=resolved.get((s.id, rule.episode)), now=now) is not None


def check_devices(conn: psycopg.Connection, now: datetime, *,
                  batch_size: int = PASS_BATCH_PATIENTS) -> int:
    """Raise or clear device-offline alerts, raise sequence-gap alerts; returns how many raised.
    The caseload is checked `batch_size` patients at a time (alerts.patient_batches)."""
    catalogue = load_catalogue()
    offline_rule, gap_rule = catalogue.get("device-offline"), catalogue.get("sequence-gap")
    assert offline_rule is not None and gap_rule is not None
    return sum(_check_devices_among(conn, patients, now, offline_rule, gap_rule)
               for patients in patient_batches(conn, batch_size))


def _check_devices_among(conn: psycopg.Connection, patients: list[int], now: datetime,
                         offline_rule: Rule, gap_rule: Rule) -> int:
    """check_devices for the devices of these patients only."""
    cur = conn.cursor(row_factory=dict_row)
    devices = cur.execute(_DEVICES_SQL, (patients, now)).fetchall()
    gaps = cur.execute(_GAPS_SQL, (patients, now - _LOOKBACK, now)).fetchall()
    pids = {r["patient_id"] for r in devices} | {r["patient_id"] for r in gaps}
    params = load_parameters(conn, pids, now)
    silent: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    for row in devices:
        if _silent(row, params.of(row["patient_id"], offline_rule), now):
            silent[row["patient_id"]].append(row)
    flagged = {r["patient_id"]
               for r in cur.execute(_FLAGGED_SQL, (patients, offline_rule.episode))}
    touched = set(silent) | {r["patient_id"] for r in gaps} | (flagged & pids)
    subjects = load_subjects(conn, touched, now)   # the patients this batch acts on
    store.lock_patients(conn, touched)
    alerts = _Alerts(store.active_alerts(conn, touched),
                     store.recently_resolved(conn, touched, now - timedelta(days=8)))
    return (_offline(conn, offline_rule, silent, subjects, alerts, now)
            + _sequence_gaps(conn, gap_rule, gaps, subjects, alerts, now))


@dataclass(frozen=True)
class _Alerts:
    """The touched patients' active and recently resolved alerts by (patient, episode)."""

    active: dict[tuple[int, str], dict[str, Any]]
    resolved: dict[tuple[int, str], dict[str, Any]]


def _offline(conn: psycopg.Connection, rule: Rule, silent: Mapping[int, list[Mapping[str, Any]]],
             subjects: Mapping[int, Subject], alerts: _Alerts, now: datetime) -> int:
    """Raise device-offline for silent devices, clear it for those heard from again."""
    changed = 0
    for pid, rows in silent.items():
        names = sorted(r["device_id"] for r in rows)
        current = alerts.active.get((pid, rule.episode))
        if current is not None and current["condition_cleared_at"] is None \
                and set(names) <= set(current["values"].get("devices", [])):
            continue
        s = subjects[pid]
        listed = ", ".join(f"{r['kind']} {r['device_id']}" for r in rows)
        message = render(rule.sentence, {**s.params(rule), "devices": listed})
        changed += _raise(conn, s, rule, message, {"devices": names}, now, now,
                          alerts.active, alerts.resolved, now)
    for (pid, episode), alert in alerts.active.items():
        if episode == rule.episode and pid not in silent:
            store.mark_cleared(conn, alert, now, "The device is back online.")
    return changed


def _sequence_gaps(conn: psycopg.Connection, rule: Rule, gaps: list[dict[str, Any]],
                   subjects: Mapping[int, Subject], alerts: _Alerts, now: datetime) -> int:
    """Raise sequence-gap once per new gap within the rule's hours."""
    by_patient: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    for row in gaps:
        by_patient[row["patient_id"]].append(row)
    changed = 0
    for pid, rows in by_patient.items():
        s = subjects[pid]
        hours = float(s.params(rule).get("hours", 24))
        recent = [r for r in rows if now - r["last"] <= timedelta(hours=hours)]
        current = alerts.active.get((pid, rule.episode))
        if not recent or (current is not None and
                          max(r["last"] for r in recent) <= current["last_breach_at"]):
            continue
        missing = sum(int(r["missing"]) for r in recent)
        message = render(rule.sentence, {**s.params(rule), "missing": missing,
                                         "devices": ", ".join(r["device_id"] for r in recent)})
        changed += _raise(conn, s, rule, message,
                          {"devices": sorted(r["device_id"] for r in recent), "missing": missing},
                          min(r["first"] for r in recent), max(r["last"] for r in recent),
                          alerts.active, alerts.resolved, now)
    return changed
