"""Timers: missing-reading alerts from the care plan, the end of watches, escalation and
reminders of unacknowledged alerts."""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from time import monotonic
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row, tuple_row
from psycopg_pool import ConnectionPool

from alerts import lifecycle, store
from alerts.catalogue import Rule, load_catalogue
from alerts.device_rules import check_devices
from alerts.escalation import escalate_overdue
from alerts.patient_batches import PASS_BATCH_PATIENTS, patient_batches
from alerts.reminders import remind_unacknowledged
from alerts.retention import Retention
from alerts.sentences import render
from alerts.thresholds import Subject, load_parameters, load_subjects
from telehub.care.adherence import RECEIVED, metric_received, monitored_from, planned_per_day
from telehub.config import Settings
from telehub.domain import adherence, clock
from telehub.domain.codes import severity_rank
from telehub.domain.units import SPECS, Metric

logger = logging.getLogger(__name__)

# pg_try_advisory_xact_lock key: one scheduler run at a time across hub processes.
SCHEDULER_LOCK_KEY = 0x7E1E_5C4E
# How far back the "no reading since" rules look for the last reading.
LAST_READING_HORIZON = timedelta(days=30)

# Per patient and expected metric: the plan's readings a day, the last reading received, and
# the readings received over the adherence window (telehub.care.adherence, as the caseload
# counts them). Low-quality readings are not readings received.
_EXPECTED_SQL = f"""
SELECT p.id AS patient_id, mm.metric::text AS metric, mm.per_day, p.enrolled_at, w.began,
       lr.last,
       {metric_received("p.id", "mm.metric", "mm.per_day", "%(share_since)s", "%(now)s",
                        zone="%(zone)s")} AS received
FROM patients p
CROSS JOIN LATERAL (SELECT {monitored_from("p")} AS began OFFSET 0) AS w
CROSS JOIN LATERAL (
    SELECT m.metric, {planned_per_day("p.care_plan", "m.metric::text")} AS per_day
    FROM unnest(enum_range(NULL::metric)) AS m(metric)) AS mm
LEFT JOIN LATERAL (
    SELECT max(ar.time) AS last FROM readings ar
    WHERE ar.patient_id = p.id AND ar.metric = mm.metric AND ar.time <= %(now)s
      AND ar.time > %(since)s AND {RECEIVED}
) lr ON true
WHERE p.id = ANY(%(patients)s) AND mm.per_day IS NOT NULL AND p.status = 'active'
  AND (p.paused_until IS NULL OR p.paused_until <= %(now)s) AND p.enrolled_at <= %(now)s
ORDER BY p.id, mm.metric
"""  # noqa: S608 (fragments from telehub.care.adherence; every value is bound)


@dataclass(frozen=True)
class Gap:
    """One expected metric with too few readings."""

    metric: Metric
    rule: Rule
    fields: dict[str, Any]
    silent_since: datetime | None = None   # no reading since then (None: too few readings)


def find_gap(row: Mapping[str, Any], now: datetime, amber: Rule, info: Rule,
             params: Mapping[str, Mapping[str, Any]], zone: ZoneInfo) -> Gap | None:
    """The worst missing-readings rule one expected metric breaks, if any."""
    per_day = int(row["per_day"])
    metric = Metric(row["metric"])
    since = row["last"] or row["enrolled_at"]
    hours = (now - since).total_seconds() / 3600
    fields: dict[str, Any] = {
        "label": SPECS[metric].label, "per_day": f"{per_day:g}", "hours": f"{hours:.0f}",
        "since": since.astimezone(zone).strftime("%H:%M on %d %b %Y"),
    }
    a, i = params[amber.id], params[info.id]
    if per_day <= 1:
        amber_hours = float(a.get("daily_hours", 72)) + float(a.get("grace_hours", 12))
    else:
        amber_hours = (float(a.get("missed_slots", 2)) + 1) * 24 / per_day
    if hours >= amber_hours:
        return Gap(metric, amber, fields, since)
    if per_day <= 1 and hours >= float(i.get("daily_hours", 48)) + float(i.get("grace_hours", 12)):
        fields["detail"] = f"no reading since {fields['since']} ({fields['hours']} h)"
        return Gap(metric, info, fields, since)
    return _share_gap(row, now, info, i, fields, zone)


def _share_gap(row: Mapping[str, Any], now: datetime, info: Rule, params: Mapping[str, Any],
               fields: dict[str, Any], zone: ZoneInfo) -> Gap | None:
    """Too few readings over a whole adherence window (monitored throughout it)."""
    start, end = adherence.window(now, row["began"])
    if end - start < adherence.WINDOW:
        return None
    share = float(params.get("share_7d", 0.7))
    got = adherence.Adherence(int(row["received"]),
                              adherence.expected_readings(int(row["per_day"]), start, end))
    if got.share is None or got.share >= share:
        return None
    to = end.astimezone(zone).strftime("%H:%M on %d %b")
    fields["detail"] = (f"{got.received} readings in the 7 days to {to}, fewer than "
                        f"{share:.0%} of the {got.expected:g} expected")
    return Gap(Metric(row["metric"]), info, fields)


def _known(current: Mapping[str, Any], found: list[Gap], metrics: list[str]) -> bool:
    """The active alert already says this: a minute later is not a new occurrence."""
    worst = max(severity_rank(g.rule.severity) for g in found)
    if worst > severity_rank(current["severity"]) \
            or not set(metrics) <= set(current["values"].get("metrics", [])):
        return False
    cleared = current["condition_cleared_at"]
    # Readings resumed and then stopped again: that is new. Too few readings over the
    # week after a resumption is not: it would re-open the alert after every reading.
    return cleared is None or not any(g.silent_since is not None and g.silent_since >= cleared
                                      for g in found)


def check_missing(conn: psycopg.Connection, now: datetime, zone: ZoneInfo, *,
                  batch_size: int = PASS_BATCH_PATIENTS) -> int:
    """Open or raise missing-readings alerts; returns how many alerts were opened or raised.
    The caseload is checked `batch_size` patients at a time (alerts.patient_batches)."""
    catalogue = load_catalogue()
    amber, info = catalogue.get("missing-readings"), catalogue.get("missing-readings-info")
    assert amber is not None and info is not None
    return sum(_check_missing_among(conn, patients, now, zone, amber, info)
               for patients in patient_batches(conn, batch_size))


def _check_missing_among(conn: psycopg.Connection, patients: list[int], now: datetime,
                         zone: ZoneInfo, amber: Rule, info: Rule) -> int:
    """check_missing for these patients only."""
    cur = conn.cursor(row_factory=dict_row)
    rows = cur.execute(_EXPECTED_SQL, {"now": now, "since": now - LAST_READING_HORIZON,
                                       "share_since": now - adherence.WINDOW,
                                       "zone": zone.key, "patients": patients}).fetchall()
    params = load_parameters(conn, {r["patient_id"] for r in rows}, now)
    gaps: dict[int, list[Gap]] = defaultdict(list)
    for row in rows:
        pid = row["patient_id"]
        gap = find_gap(row, now, amber, info,
                       {amber.id: params.of(pid, amber), info.id: params.of(pid, info)}, zone)
        if gap is not None:
            gaps[pid].append(gap)
    subjects = load_subjects(conn, gaps, now)   # the patients with a gap
    store.lock_patients(conn, gaps)
    active = store.active_alerts(conn, gaps)
    resolved = store.recently_resolved(conn, gaps, now - timedelta(days=8))
    changed = 0
    for pid, found in gaps.items():
        current = active.get((pid, amber.episode))
        metrics = sorted(g.metric.value for g in found)
        if current is not None and _known(current, found, metrics):
            continue
        s = subjects[pid]
        if store.raise_alert(conn, patient_id=pid, team_id=s.team_id, team_code=s.team_code,
                             display_id=s.display_id, raised=_raised(s, amber.episode, found, now),
                             active=current, resolved=resolved.get((pid, amber.episode)),
                             now=now) is not None:
            changed += 1
    return changed


def _raised(subject: Subject, episode: str, found: list[Gap], now: datetime) -> store.Raised:
    """One missing-readings alert for a patient's gaps, worst first in its sentence."""
    worst = max(found, key=lambda g: severity_rank(g.rule.severity))
    metrics = sorted(g.metric.value for g in found)
    message = " ".join(render(g.rule.sentence, {**subject.params(g.rule), **g.fields})
                       for g in sorted(found, key=lambda g: -severity_rank(g.rule.severity)))
    return store.Raised(
        episode=episode, rule_id=worst.rule.id, severity=worst.rule.severity,
        message=message, metric=metrics[0] if len(metrics) == 1 else None, first=now,
        last=now, values={"rule": worst.rule.id, "metrics": metrics,
                          "gaps": {g.metric.value: g.rule.id for g in found}},
        suppress_hours=worst.rule.suppression_hours)


def run_alert_timers(conn: psycopg.Connection, now: datetime, zone: ZoneInfo) -> dict[str, int]:
    """The alert timers at `now`, in this order: watches that have ended return to the inbox
    (so they escalate and remind from now on), then escalations, then reminders."""
    ended = lifecycle.end_due_watches(conn, now)
    return {**escalate_overdue(conn, now, zone), "reminders": remind_unacknowledged(conn, now),
            "watches_ended": ended}


def _scheduler_lock(conn: psycopg.Connection) -> bool:
    """Take the scheduler's lock for this transaction, unless another hub holds it."""
    row = conn.cursor(row_factory=tuple_row).execute(
        "SELECT pg_try_advisory_xact_lock(%s)", (SCHEDULER_LOCK_KEY,)).fetchone()
    return bool(row and row[0])


class Scheduler:
    """Runs the timers every `alerts.scheduler_interval_s`; one run at a time across hubs."""

    def __init__(self, settings: Settings, pool: ConnectionPool) -> None:
        self._settings = settings
        self._pool = pool
        self._zone = settings.zone
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Refuses a retention policy shorter than the rules need before the hub starts.
        self.retention = Retention(settings, pool, lock=_scheduler_lock,
                                   scheduler_history=LAST_READING_HORIZON)

    def run_once(self, now: datetime | None = None) -> dict[str, int] | None:
        """One pass at `now`, then retention's batches (alerts/retention.py); None when
        another hub process holds the scheduler lock."""
        now = now or clock.now()
        with self._pool.connection() as conn:
            if not _scheduler_lock(conn):
                return None
            result = {"missing": check_missing(conn, now, self._zone),
                      "devices": check_devices(conn, now),
                      **run_alert_timers(conn, now, self._zone)}
        if any(result.values()):
            logger.info("alert scheduler: %s missing-reading alerts, %s device alerts, "
                        "%s escalations, %s telecare escalations, %s reminders, %s watches "
                        "ended", result["missing"], result["devices"], result["escalated"],
                        result["telecare_escalated"], result["reminders"],
                        result["watches_ended"])
        self.retention.run_once(now)
        return result

    def start(self) -> None:
        """Run in a background thread until stop()."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="alert-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current pass."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def run_escalations_once(self, now: datetime | None = None) -> dict[str, int] | None:
        """Only the alert timers: watches ending, escalations, reminders (a two-minute telecare
        window needs a shorter tick than the full pass); None when another hub process holds
        the scheduler lock."""
        now = now or clock.now()
        with self._pool.connection() as conn:
            if not _scheduler_lock(conn):
                return None
            done = run_alert_timers(conn, now, self._zone)
        if any(done.values()):
            logger.info("alert scheduler: %s escalations, %s telecare escalations, "
                        "%s reminders, %s watches ended", done["escalated"],
                        done["telecare_escalated"], done["reminders"], done["watches_ended"])
        return done

    def _run(self) -> None:
        """One loop: the alert timers every `escalation_interval_s`, the full pass (missing
        readings, devices, alert timers) every `scheduler_interval_s`."""
        timers = self._settings.alerts
        tick = min(timers.escalation_interval_s, timers.scheduler_interval_s)
        next_full = 0.0
        while not self._stop.is_set():
            try:
                if monotonic() >= next_full:
                    next_full = monotonic() + timers.scheduler_interval_s
                    self.run_once()
                else:
                    self.run_escalations_once()
            except Exception:
                logger.exception("alert scheduler: pass failed; trying again next interval")
            self._stop.wait(tick)
