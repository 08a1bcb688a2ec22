"""Writing alerts: open or update the one active alert per (patient, episode), events, outbox."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from prometheus_client import Counter
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from alerts import watch_rules
from alerts.outbox import OUTBOX_SQL, enqueue, notification
from alerts.wakeup import wake_notifiers
from telehub.domain.codes import Severity, severity_rank

SYSTEM = "system"
# Serialises alert writing per patient across hub workers and the scheduler (first key of
# the two-key advisory lock); always taken in patient id order, so it cannot deadlock.
PATIENT_LOCK_CLASS = 0x7E1E

_LOCK_SQL = """
SELECT pg_advisory_xact_lock(%s, s.id::int)
FROM (SELECT id FROM unnest(%s::bigint[]) AS id ORDER BY id) AS s
"""

_ACTIVE_SQL = "SELECT * FROM alerts WHERE patient_id = ANY(%s) AND status <> 'resolved'"
_RESOLVED_SQL = """
SELECT DISTINCT ON (patient_id, rule_id) patient_id, rule_id, severity::text AS severity,
       resolved_at
FROM alerts
WHERE patient_id = ANY(%s) AND status = 'resolved' AND resolved_at > %s
ORDER BY patient_id, rule_id, resolved_at DESC
"""
_EVENT_SQL = """
INSERT INTO alert_events (alert_id, at, kind, actor_id, actor, note, data)
VALUES (%s, %s, %s, %s, %s, %s, %s)
"""
# Counted as written, inside the caller's transaction: a batch that fails to commit and is
# retried counts its alerts again, so this is a rate to watch, not a register of alerts.
ALERTS_OPENED = Counter("telehub_alerts_opened", "Alerts opened, by severity", ["severity"])


@dataclass
class Raised:
    """What one batch (or one scheduler run) found for one patient and episode."""

    episode: str
    rule_id: str               # the rule that set the severity
    severity: str
    message: str
    metric: str | None
    first: datetime
    last: datetime
    occurrences: int = 1
    values: dict[str, Any] = field(default_factory=dict)
    late: bool = False
    suppress_hours: float = 0.0
    named: str | None = None   # ISO time of the reading the message names, if one


def _worst_key(snapshot: Mapping[str, Any]) -> tuple[int, float]:
    return (severity_rank(snapshot.get("severity", Severity.INFO)),
            float(snapshot.get("extreme", 0.0)))


def _sentence(raised: Raised, values: Mapping[str, Any]) -> str:
    """The message, naming the episode's worst reading too when it is not the one named."""
    worst = values.get("worst")
    if raised.named is None or not worst or worst.get("time") == raised.named \
            or not worst.get("shown"):
        return raised.message
    return f"{raised.message} Worst reading of this episode: {worst['shown']}."


def lock_patients(conn: psycopg.Connection, patient_ids: Iterable[int]) -> None:
    """Hold the patients' alert locks until the transaction ends."""
    ids = sorted(set(patient_ids))
    if ids:
        conn.execute(_LOCK_SQL, (PATIENT_LOCK_CLASS, ids))


ByEpisode = dict[tuple[int, str], dict[str, Any]]


def _by_episode(cur: psycopg.Cursor[dict[str, Any]]) -> ByEpisode:
    """Alert rows by (patient, episode)."""
    return {(r["patient_id"], r["rule_id"]): r for r in cur.fetchall()}


def active_alerts(conn: psycopg.Connection, patient_ids: Iterable[int]) -> ByEpisode:
    """The active (not resolved) alerts of these patients by (patient, episode)."""
    return _by_episode(conn.cursor(row_factory=dict_row).execute(
        _ACTIVE_SQL, (sorted(set(patient_ids)),)))


def recently_resolved(conn: psycopg.Connection, patient_ids: Iterable[int],
                      since: datetime) -> ByEpisode:
    """The latest alert resolved since `since` per (patient, episode): for suppression."""
    return _by_episode(conn.cursor(row_factory=dict_row).execute(
        _RESOLVED_SQL, (sorted(set(patient_ids)), since)))


def active_and_resolved(conn: psycopg.Connection, patient_ids: Iterable[int],
                        since: datetime) -> tuple[ByEpisode, ByEpisode]:
    """Both of the above; in pipeline mode (the ingest writer's) in one round trip, as both
    are sent before either is read."""
    ids = sorted(set(patient_ids))
    active = conn.cursor(row_factory=dict_row).execute(_ACTIVE_SQL, (ids,))
    resolved = conn.cursor(row_factory=dict_row).execute(_RESOLVED_SQL, (ids, since))
    return _by_episode(active), _by_episode(resolved)


def add_event(conn: psycopg.Connection, alert_id: int, kind: str, at: datetime, *,
              actor: str = SYSTEM, actor_id: int | None = None, note: str | None = None,
              data: Mapping[str, Any] | None = None) -> None:
    """One row of the alert's audit trail."""
    conn.execute(_EVENT_SQL, (alert_id, at, kind, actor_id, actor, note, Jsonb(dict(data or {}))))


def escalate(conn: psycopg.Connection, alert: Mapping[str, Any], now: datetime,
             note: str | None, *, actor: str = SYSTEM, actor_id: int | None = None
             ) -> dict[str, Any]:
    """Mark an active alert escalated, record who and why, and queue its re-notification
    (the scheduler's timers and a person's "escalate" both write it here)."""
    updated = conn.cursor(row_factory=dict_row).execute(
        "UPDATE alerts SET escalated = true, escalated_at = %s, updated_at = now() "
        "WHERE id = %s RETURNING *", (now, alert["id"])).fetchone()
    assert updated is not None
    add_event(conn, alert["id"], "escalated", now, actor=actor, actor_id=actor_id, note=note)
    enqueue(conn, updated, "escalated", team_code=alert.get("team_code"))
    return dict(updated)


def suppressed(raised: Raised, resolved: Mapping[str, Any] | None, now: datetime) -> bool:
    """A nurse resolved this episode recently and the new breach is no worse."""
    if resolved is None or raised.severity == Severity.RED or raised.suppress_hours <= 0:
        return False
    if severity_rank(raised.severity) > severity_rank(resolved["severity"]):
        return False
    return now - resolved["resolved_at"] < timedelta(hours=raised.suppress_hours)


def _merge_values(old: Mapping[str, Any], raised: Raised) -> dict[str, Any]:
    values = {**old, **raised.values}
    worst_old, worst_new = old.get("worst"), raised.values.get("worst")
    if worst_old and (not worst_new or _worst_key(worst_old) > _worst_key(worst_new)):
        values["worst"] = worst_old   # the most extreme reading of the episode is kept
    latest_old, latest_new = old.get("latest"), raised.values.get("latest")
    if latest_old and latest_new and latest_old.get("time") and latest_new.get("time") \
            and _time(latest_old) > _time(latest_new):
        values["latest"] = latest_old  # a late backlog does not replace a newer reading
    return values


def _time(snapshot: Mapping[str, Any]) -> datetime:
    return datetime.fromisoformat(str(snapshot.get("time")))


@dataclass(frozen=True)
class Target:
    """Whose alert it is and where its notifications go."""

    patient_id: int
    team_id: int
    team_code: str
    display_id: str


_INSERT_MANY_SQL = """
INSERT INTO alerts (patient_id, team_id, rule_id, severity, message, metric, first_breach_at,
                    last_breach_at, occurrences, values, late)
SELECT v.patient_id, v.team_id, v.rule_id, v.severity::severity, v.message, v.metric::metric,
       v.first, v.last, v.occurrences, v.vals, v.late
FROM unnest(%b::bigint[], %b::bigint[], %b::text[], %b::text[], %b::text[], %b::text[],
            %b::timestamptz[], %b::timestamptz[], %b::int[], %b::jsonb[], %b::bool[])
     AS v(patient_id, team_id, rule_id, severity, message, metric, first, last, occurrences,
          vals, late)
RETURNING *
"""
_UPDATE_MANY_SQL = """
UPDATE alerts a SET severity = v.severity::severity, message = v.message,
       first_breach_at = least(a.first_breach_at, v.first),
       last_breach_at = greatest(a.last_breach_at, v.last),
       occurrences = a.occurrences + v.occurrences, values = v.vals,
       late = a.late AND v.late, condition_cleared_at = NULL, updated_at = now(),
       status = CASE WHEN v.reraise THEN 'open'::alert_status ELSE a.status END,
       watch_until = CASE WHEN v.reraise THEN NULL ELSE a.watch_until END,
       watch_started_at = CASE WHEN v.reraise THEN NULL ELSE a.watch_started_at END,
       watch_reason = CASE WHEN v.reraise THEN NULL ELSE a.watch_reason END,
       watch_by = CASE WHEN v.reraise THEN NULL ELSE a.watch_by END,
       reminded_at = CASE WHEN v.reraise THEN NULL ELSE a.reminded_at END
FROM unnest(%b::bigint[], %b::text[], %b::text[], %b::timestamptz[], %b::timestamptz[],
            %b::int[], %b::jsonb[], %b::bool[], %b::bool[])
     AS v(id, severity, message, first, last, occurrences, vals, late, reraise)
WHERE a.id = v.id
RETURNING a.*
"""


def _columns(rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    return [list(col) for col in zip(*rows, strict=True)]


def raise_alerts(conn: psycopg.Connection, items: Sequence[tuple[Target, Raised]],
                 active: Mapping[tuple[int, str], Mapping[str, Any]],
                 resolved: Mapping[tuple[int, str], Mapping[str, Any]], now: datetime) -> ByEpisode:
    """Open or update every episode's alert in a few statements, whatever the batch size.

    Returns the written alerts by (patient, episode); suppressed ones are left out.
    """
    inserts: list[tuple[Target, Raised]] = []
    updates: list[tuple[Target, Raised, Mapping[str, Any], bool]] = []
    for target, raised in items:
        current = active.get((target.patient_id, raised.episode))
        if current is None:
            if not suppressed(raised, resolved.get((target.patient_id, raised.episode)), now):
                inserts.append((target, raised))
        else:
            worse = severity_rank(raised.severity) > severity_rank(current["severity"])
            updates.append((target, raised, current, worse))
    trail = _Trail()
    written = {**_insert(conn, inserts, now, trail), **_update(conn, updates, now, trail)}
    cur = conn.cursor()
    if trail.events:
        cur.executemany(_EVENT_SQL, trail.events)
    if trail.outbox:
        cur.executemany(OUTBOX_SQL, trail.outbox)
        wake_notifiers(conn)
    return written


@dataclass
class _Trail:
    """Audit events and outbox rows collected while writing alerts, written together."""

    events: list[tuple[Any, ...]] = field(default_factory=list)
    outbox: list[tuple[Any, ...]] = field(default_factory=list)


def _insert(conn: psycopg.Connection, inserts: Sequence[tuple[Target, Raised]], now: datetime,
            trail: _Trail) -> ByEpisode:
    """Open new alerts: an "opened" event each, a notification unless info."""
    if not inserts:
        return {}
    rows = conn.cursor(row_factory=dict_row).execute(_INSERT_MANY_SQL, _columns([
        (t.patient_id, t.team_id, r.episode, r.severity, _sentence(r, r.values), r.metric,
         r.first, r.last, r.occurrences, Jsonb(r.values), r.late)
        for t, r in inserts])).fetchall()
    raised_by = {(t.patient_id, r.episode): (t, r) for t, r in inserts}
    written: ByEpisode = {}
    for alert in rows:
        t, r = raised_by[(alert["patient_id"], alert["rule_id"])]
        trail.events.append((alert["id"], now, "opened", None, SYSTEM, None,
                             Jsonb({"rule": r.rule_id, "severity": r.severity})))
        if r.severity != Severity.INFO:
            trail.outbox.append(_outbox_row(alert, t, "opened"))
        ALERTS_OPENED.labels(str(alert["severity"])).inc()
        written[(alert["patient_id"], alert["rule_id"])] = dict(alert)
    return written


def _updated(r: Raised, c: Mapping[str, Any], worse: bool, reraise: str | None,
             now: datetime) -> tuple[Any, ...]:
    """One active alert's new columns: the message follows the newest reading at the alert's
    severity, the values keep the episode's worst reading; a watched alert counts the
    readings of its watch, and a re-raised one ends its watch (alerts.watch_rules)."""
    values = _merge_values(c.get("values") or {}, r)
    if watch_rules.watching(c):
        watch = watch_rules.track(values.get("watch") or {}, r.rule_id, r.occurrences,
                                  r.values.get("worst"), _worst_key)
        if reraise:
            values.pop("watch", None)
            values["last_watch"] = watch_rules.summary(c, watch, now, reraise)
        else:
            values["watch"] = watch
    # The sentence names the newest breaching reading: older ones arriving late keep it.
    newer = r.last >= c["last_breach_at"]
    message = _sentence(r, values) if worse or (r.severity == c["severity"] and newer) \
        else c["message"]
    return (c["id"], r.severity if worse else c["severity"], message, r.first, r.last,
            r.occurrences, Jsonb(values), r.late, reraise is not None)


def _update(conn: psycopg.Connection,
            updates: Sequence[tuple[Target, Raised, Mapping[str, Any], bool]], now: datetime,
            trail: _Trail) -> ByEpisode:
    """Update active alerts: "severity-raised" (notified unless info) or "repeated"; a worse
    reading on a watched alert also "re-raised" (notified once, as "re-raised")."""
    if not updates:
        return {}
    reraised = {c["id"]: watch_rules.re_raise_reason(c, r.rule_id, r.severity)
                for _, r, c, _ in updates}
    rows = conn.cursor(row_factory=dict_row).execute(_UPDATE_MANY_SQL, _columns([
        _updated(r, c, worse, reraised[c["id"]], now) for _, r, c, worse in updates])
    ).fetchall()
    by_id = {a["id"]: a for a in rows}
    written: ByEpisode = {}
    for t, r, c, worse in updates:
        alert = by_id[c["id"]]
        data = {"rule": r.rule_id, "severity": r.severity}
        notify = "severity-raised" if worse else None
        if worse:
            trail.events.append((alert["id"], now, "severity-raised", None, SYSTEM, None,
                                 Jsonb({**data, "from": c["severity"]})))
        else:
            trail.events.append((alert["id"], now, "repeated", None, SYSTEM, None,
                                 Jsonb({**data, "occurrences": r.occurrences})))
        reason = reraised[c["id"]]
        if reason:
            notify = "re-raised"
            trail.events.append(_reraise_event(alert, c, r, reason, now))
        if notify and alert["severity"] != Severity.INFO:
            trail.outbox.append(_outbox_row(alert, t, notify))
        written[(t.patient_id, r.episode)] = dict(alert)
    return written


def _reraise_event(alert: Mapping[str, Any], c: Mapping[str, Any], r: Raised, reason: str,
                   now: datetime) -> tuple[Any, ...]:
    """The "re-raised" event of a watched alert a worse reading brought back."""
    done = (alert.get("values") or {}).get("last_watch") or {}
    note = watch_rules.reraise_note(reason, c["severity"], r.severity, r.rule_id, done)
    return (alert["id"], now, "re-raised", None, SYSTEM, note,
            Jsonb({**done, "rule": r.rule_id, "severity": r.severity, "from": c["severity"]}))


def _outbox_row(alert: Mapping[str, Any], target: Target, event: str) -> tuple[Any, ...]:
    payload = notification(alert, target.team_code, target.display_id, event)
    return (alert["id"], target.team_code, alert["severity"], Jsonb(payload))


def raise_alert(conn: psycopg.Connection, *, patient_id: int, team_id: int, team_code: str,
                display_id: str, raised: Raised, active: Mapping[str, Any] | None,
                resolved: Mapping[str, Any] | None, now: datetime) -> dict[str, Any] | None:
    """Open the episode's alert, or update the active one; None when suppressed."""
    key = (patient_id, raised.episode)
    written = raise_alerts(conn, [(Target(patient_id, team_id, team_code, display_id), raised)],
                           {key: active} if active else {},
                           {key: resolved} if resolved else {}, now)
    return written.get(key)


def mark_cleared_many(conn: psycopg.Connection,
                      items: Sequence[tuple[Mapping[str, Any], str]], at: datetime) -> int:
    """Mark active alerts "condition cleared" with a note each (two statements in all)."""
    todo = {a["id"]: note for a, note in items if a.get("condition_cleared_at") is None}
    if not todo:
        return 0
    conn.execute("UPDATE alerts SET condition_cleared_at = %s, updated_at = now() "
                 "WHERE id = ANY(%s)", (at, list(todo)))
    conn.cursor().executemany(_EVENT_SQL, [(aid, at, "condition-cleared", None, SYSTEM, note,
                                            Jsonb({})) for aid, note in todo.items()])
    return len(todo)


def mark_cleared(conn: psycopg.Connection, alert: Mapping[str, Any], at: datetime,
                 note: str) -> bool:
    """Mark one active alert "condition cleared" (it stays open for the nurse to close)."""
    return mark_cleared_many(conn, [(alert, note)], at) == 1
