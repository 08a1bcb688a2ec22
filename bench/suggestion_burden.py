"""Alert burden before and after the demo's accepted threshold suggestions: the demo trust's
months of handled alerts (alerts.demo_history) replayed as recorded, with the individual
thresholds the matrons accepted, and with every waiting suggestion accepted too.

An alert is replayed against a patient's accepted limit by its worst reading: it would still
have fired when that reading breaches the new limit (at or below, below, …), else it would
not. Alerts per 100 patient-days count the patients' monitored days (enrolment to today); the
share that led to action is action / (action + noise) (telehub.domain.codes)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from alerts.demo_history import write_alert_history
from api.queries.rule_performance import noisy_rules
from bench.databases import recreate_database
from bench.report import Report, ratio
from telehub.demo.caseload import DEMO_SEED
from telehub.demo.seed import seed_demo
from telehub.domain import clock
from telehub.domain.codes import ACTION_OUTCOMES, NOISE_OUTCOMES

_ALERTS_SQL = """
SELECT a.patient_id, coalesce(a.values ->> 'rule', a.rule_id) AS rule,
       (a.values -> 'worst' ->> 'value')::float8 AS worst, a.outcome::text AS outcome
FROM alerts a ORDER BY a.id
"""
_ACCEPTED_SQL = """
SELECT d.patient_id, d.rule_id, d.params FROM threshold_suggestion_decisions d
WHERE d.decision = 'accepted' ORDER BY d.id
"""
_DAYS_SQL = "SELECT coalesce(sum(EXTRACT(EPOCH FROM %s - enrolled_at)), 0) / 86400.0 AS d " \
            "FROM patients WHERE status <> 'discharged'"


@dataclass(frozen=True)
class Burden:
    """One line of the report."""

    name: str
    alerts: int
    patient_days: float
    action: int
    noise: int

    @property
    def per_100_patient_days(self) -> float:
        """Alerts per 100 patient-days."""
        return round(100.0 * self.alerts / self.patient_days, 2) if self.patient_days else 0.0

    @property
    def action_share(self) -> float | None:
        """Share of the decided alerts that led to action."""
        decided = self.action + self.noise
        return round(self.action / decided, 4) if decided else None


def still_fires(worst: float | None, limits: Mapping[str, Any]) -> bool:
    """Whether an alert with this worst reading breaches the individual limits."""
    if worst is None:
        return True              # nothing to replay against: counted as it was
    checks = {"at_or_below": lambda v, x: v <= x, "below": lambda v, x: v < x,
              "at_or_above": lambda v, x: v >= x, "above": lambda v, x: v > x}
    found = [checks[n](worst, float(x)) for n, x in limits.items() if n in checks]
    return not found or any(found)


def replay(conn: psycopg.Connection[Any], now: datetime,
           limits: Mapping[tuple[int, str], Mapping[str, Any]], name: str) -> Burden:
    """The history's alerts with these individual limits applied."""
    cur = conn.cursor(row_factory=dict_row)
    row = cur.execute(_DAYS_SQL, (now,)).fetchone()
    days = float(row["d"]) if row else 0.0
    kept = [a for a in cur.execute(_ALERTS_SQL).fetchall()
            if still_fires(a["worst"], limits.get((a["patient_id"], a["rule"]), {}))]
    return Burden(name, len(kept), days,
                  sum(1 for a in kept if a["outcome"] in ACTION_OUTCOMES),
                  sum(1 for a in kept if a["outcome"] in NOISE_OUTCOMES))


def suggestion_burden(conn: psycopg.Connection[Any], seed: int, today: date,
                      now: datetime) -> list[Burden]:
    """Seed the demo trust with its history, then the three lines of the report."""
    seed_demo(conn, _scratch(), seed, today=today)
    write_alert_history(conn, seed, today)
    cur = conn.cursor(row_factory=dict_row)
    accepted = {(r["patient_id"], r["rule_id"]): dict(r["params"])
                for r in cur.execute(_ACCEPTED_SQL).fetchall()}
    waiting = dict(accepted)
    teams = [r["id"] for r in cur.execute("SELECT id FROM teams ORDER BY id").fetchall()]
    for team in teams:
        for s in noisy_rules(conn, team, now):
            if s.suggested:
                waiting[(s.patient_id, s.rule_id)] = dict(s.suggested)
    return [replay(conn, now, {}, "as recorded (catalogue defaults)"),
            replay(conn, now, accepted, "with the accepted suggestions"),
            replay(conn, now, waiting, "with every suggestion accepted")]


def _scratch() -> Any:
    import tempfile
    from pathlib import Path

    return Path(tempfile.mkdtemp(prefix="telehub-bench-suggestions-"))


def run_on(url: str, seed: int) -> list[Burden]:
    """The report's lines on the (fresh, migrated) database at `url`."""
    from telehub.db.pool import connect

    with connect(url) as conn:
        return suggestion_burden(conn, seed, clock.today(), clock.now())


def report_suggestions(admin_url: str, database: str, report: Report) -> None:
    """The demo trust's alert history as recorded and with its accepted threshold
    suggestions (bench/suggestion_burden.py): alerts per 100 patient-days and the share that
    led to action."""
    lines = run_on(recreate_database(admin_url, database), DEMO_SEED)
    for b in lines:
        share = "-" if b.action_share is None else f"{b.action_share:.1%}"
        report.add(group="suggestions", name=b.name,
                   suggestions=f"{b.per_100_patient_days:.2f} per 100 patient-days; "
                               f"{b.alerts} alerts; {share} led to action")
    report.params["suggestions"] = {
        b.name: {"alerts": b.alerts, "patient_days": round(b.patient_days, 1),
                 "per_100_patient_days": b.per_100_patient_days, "action": b.action,
                 "noise": b.noise, "action_share": b.action_share} for b in lines}
    report.ratios["suggestions: accepted / as recorded (alerts)"] = ratio(
        lines[1].alerts, lines[0].alerts)
