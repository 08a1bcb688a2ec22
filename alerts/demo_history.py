"""The demo trust's past: its patients enrolled months back with their hospital episodes and
a comparison cohort (telehub.demo.history), then months of alerts before the simulators' last
month, and how its team handled each: acknowledged and resolved through the alert lifecycle
at realistic delays with realistic outcomes (most within hours, a few false alarms), some
just before an admission.

A few scale-1 COPD patients' SpO2 info rule fires again and again without action: for two of
them the matron accepted the suggested individual threshold five weeks ago (through
alerts.suggestion_decisions, the suggestion worked out by alerts.suggestions); for two more
the suggestion waits on the team view. History alerts are never notified (they are past).
Deterministic from the seed. Used by `telehub demo` only."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from alerts.catalogue import load_catalogue
from alerts.lifecycle import Actor, acknowledge, end_due_watches, resolve, watch
from alerts.store import add_event
from alerts.suggestion_decisions import accept_suggestion
from alerts.suggestions import suggest_threshold
from alerts.thresholds import load_subjects
from telehub.demo.caseload import plan_demo
from telehub.demo.history import add_history
from telehub.domain import clock

ALERTS_A_DAY = 0.03            # alerts a patient-day in the history (3 per 100 patient-days)
RECENT_DAYS = 31               # the simulators write the last month; the history stops before
NOISY_PATIENTS = 4             # two accepted suggestions, two waiting
NOISY_RULE = "spo2-scale1-info"
ACCEPTED_REASON = "Usual SpO2 94–95 % at rest for years; review if breathless or below 94 %."
# The rules the history raises and the range of their worst reading (the message is short:
# the history's alerts are not re-evaluated against readings).
WORST: dict[str, tuple[float, float, str]] = {
    "spo2-scale1-red": (86, 91, "SpO2 {v:.0f} %"), "spo2-scale1-amber": (92, 93, "SpO2 {v:.0f} %"),
    "spo2-scale1-info": (94, 95, "SpO2 {v:.0f} %"), "spo2-scale2-amber": (82, 85, "SpO2 {v:.0f} %"),
    "pulse-amber": (111, 126, "Pulse {v:.0f} /min"), "weight-gain-3d": (2.0, 3.5, "+{v:.1f} kg"),
    "weight-gain-2d": (2.0, 3.0, "+{v:.1f} kg"), "glucose-hypo": (3.1, 3.9, "Glucose {v:.1f}"),
    "glucose-hyper": (15.1, 19.0, "Glucose {v:.1f}"),
    "glucose-hypo-severe": (2.2, 2.9, "Glucose {v:.1f}")}
# Outcomes the simulated team records, by severity (weights).
OUTCOMES = {
    "red": (("visit-arranged", 30), ("advice-given", 20), ("admitted", 12),
            ("medication-changed", 10), ("referred-to-gp", 10), ("false-alarm", 8),
            ("measurement-error", 10)),
    "amber": (("advice-given", 35), ("medication-changed", 12), ("visit-arranged", 10),
              ("referred-to-gp", 6), ("no-action-needed", 20), ("false-alarm", 8),
              ("measurement-error", 9)),
    "info": (("no-action-needed", 55), ("advice-given", 30), ("measurement-error", 15)),
}
# Median minutes to acknowledge (log-normal): red within the hour, amber within hours, info
# by the next working day.
ACK_MEDIAN_MINUTES = {"red": 25.0, "amber": 150.0, "info": 600.0}
# Some amber alerts are watched rather than settled at once: a day, then reviewed again.
WATCH_SHARE = 0.15
WATCH_FOR = timedelta(hours=24)
WATCH_REASON = "Stable on review; watching the next day's readings before deciding."


@dataclass(frozen=True)
class Handling:
    """How the simulated team handles one alert."""

    ack_minutes: float
    resolve_minutes: float
    outcome: str


def plan_handling(rng: random.Random, severity: str, outcome: str | None = None) -> Handling:
    """Minutes to acknowledge, minutes on to resolve, and the outcome (drawn unless given)."""
    ack = max(2.0, rng.lognormvariate(0.0, 0.8) * ACK_MEDIAN_MINUTES[severity])
    names, weights = zip(*OUTCOMES[severity], strict=True)
    return Handling(round(ack), rng.randint(20, 360),
                    outcome or rng.choices(names, weights=weights)[0])


def rules_for(conditions: frozenset[str], spo2_scale: int) -> list[str]:
    """The history's rules for a patient's conditions and SpO2 scale."""
    out = []
    if "heart-failure" in conditions:
        out += ["weight-gain-3d", "weight-gain-2d"]
    if "copd" in conditions:
        out += (["spo2-scale2-amber"] if spo2_scale == 2 else
                ["spo2-scale1-red", "spo2-scale1-amber", "spo2-scale1-info"]) + ["pulse-amber"]
    if any(c.endswith("diabetes") for c in conditions):
        out += ["glucose-hypo", "glucose-hyper", "glucose-hypo-severe"]
    return out


@dataclass(frozen=True)
class Planned:
    """One history alert: when, whose, which rule, its worst reading and its handling."""

    at: datetime
    patient_id: int
    rule_id: str
    worst: float
    handling: Handling


_ALERT_SQL = """
INSERT INTO alerts (patient_id, team_id, rule_id, severity, message, metric, first_breach_at,
                    last_breach_at, created_at, values)
SELECT id, team_id, %s, %s, %s, %s, %s, %s, %s, %s FROM patients WHERE id = %s RETURNING id
"""
_PATIENTS_SQL = """
SELECT p.id, p.team_id, p.enrolled_at, p.care_plan FROM patients p
WHERE p.status <> 'discharged' ORDER BY p.id
"""
_ADMISSIONS_SQL = """
SELECT patient_id, started_on FROM hospital_episodes
WHERE kind = 'emergency-admission' ORDER BY patient_id, started_on
"""
_STAFF_SQL = """
SELECT id, username, role::text AS role, team_id FROM staff
WHERE active AND role IN ('matron', 'nurse') AND team_id IS NOT NULL ORDER BY username
"""


def history_written(conn: psycopg.Connection[Any]) -> bool:
    """True when the demo history is already there (a second run writes nothing)."""
    return conn.execute("SELECT 1 FROM alerts WHERE values ->> 'history' = 'demo' LIMIT 1"
                        ).fetchone() is not None


def write_alert_history(conn: psycopg.Connection[Any], seed: int, today: date) -> int:
    """The history's alerts, each acknowledged and resolved at its planned times; then the
    accepted suggestions. The number of alerts written (0 when already there)."""
    if history_written(conn):
        return 0
    _enrol_months_back(conn, seed, today)
    cur = conn.cursor(row_factory=dict_row)
    patients = cur.execute(_PATIENTS_SQL).fetchall()
    subjects = load_subjects(conn, [p["id"] for p in patients])
    admissions: dict[int, list[date]] = {}
    for r in cur.execute(_ADMISSIONS_SQL).fetchall():
        admissions.setdefault(r["patient_id"], []).append(r["started_on"])
    rng = random.Random(f"{seed}:alert-history")
    noisy = _pick_noisy(rng, patients, subjects, today)
    planned: list[Planned] = []
    for p in patients:
        s = subjects[p["id"]]
        rules = rules_for(s.conditions, s.spo2_scale)
        enrolled = clock.service_date(p["enrolled_at"])
        planned += _plan_patient(random.Random(f"{seed}:alerts:{p['id']}"), p["id"], rules,
                                 enrolled, today, admissions.get(p["id"], []),
                                 noisy.get(p["id"]))
    staff: dict[int, list[Actor]] = {}
    for r in cur.execute(_STAFF_SQL).fetchall():
        staff.setdefault(r["team_id"], []).append(Actor(r["id"], r["username"]))
    teams = {p["id"]: p["team_id"] for p in patients}
    busy: dict[tuple[int, str], datetime] = {}
    written = 0
    for a in sorted(planned, key=lambda x: (x.at, x.patient_id, x.rule_id)):
        rule = load_catalogue().get(a.rule_id)
        people = staff.get(teams[a.patient_id])
        if rule is None or not people or busy.get((a.patient_id, rule.episode), a.at) > a.at:
            continue          # the hub would have updated the episode's alert still open
        done = _handle(conn, a, rule.episode, rule.severity, rule.metric,
                       people[int(a.at.timestamp()) % len(people)])
        busy[(a.patient_id, rule.episode)] = done
        written += 1
    for pid, state in sorted(noisy.items()):
        if state == "accepted":
            _accept(conn, pid, teams[pid], staff, today)
    return written


def _enrol_months_back(conn: psycopg.Connection[Any], seed: int, today: date) -> None:
    """The demo patients' enrolment months back, their episodes and the comparison cohort
    (telehub.demo.history), before the alerts that follow from them."""
    plan = plan_demo(seed)
    rows = conn.cursor(row_factory=dict_row).execute(
        "SELECT id, nhs_number FROM patients WHERE nhs_number = ANY(%s)",
        ([p.nhs_number for p in plan],)).fetchall()
    ids = {r["nhs_number"]: r["id"] for r in rows}
    if len(ids) == len(plan):
        add_history(conn, plan, [ids[p.nhs_number] for p in plan], seed, today)


def _pick_noisy(rng: random.Random, patients: list[dict[str, Any]], subjects: dict[int, Any],
                today: date) -> dict[int, str]:
    fit = [p["id"] for p in patients
           if "copd" in subjects[p["id"]].conditions and subjects[p["id"]].spo2_scale == 1
           and "spo2" in (p["care_plan"] or {})
           and clock.service_date(p["enrolled_at"]) < today - timedelta(days=75)]
    chosen = rng.sample(fit, min(NOISY_PATIENTS, len(fit)))
    return {pid: ("accepted" if i < 2 else "waiting") for i, pid in enumerate(chosen)}


def _at(day: date, rng: random.Random) -> datetime:
    return datetime.combine(day, time(rng.randint(7, 20), rng.randint(0, 59)), UTC)


def _plan_patient(rng: random.Random, pid: int, rules: list[str], enrolled: date, today: date,
                  admissions: list[date], noisy: str | None) -> list[Planned]:
    out: list[Planned] = []

    def add(rule: str, at: datetime, worst: float | None = None,
            outcome: str | None = None) -> None:
        low, high, _ = WORST[rule]
        places = 0 if rule.startswith(("spo2", "pulse")) else 1     # as the devices read
        value = worst if worst is not None else round(rng.uniform(low, high), places)
        severity = "red" if rule.endswith(("-red", "-severe")) else (
            "info" if rule.endswith("-info") else "amber")
        out.append(Planned(at, pid, rule, value, plan_handling(rng, severity, outcome)))

    end = today - timedelta(days=RECENT_DAYS)
    day = enrolled + timedelta(days=1)
    while rules and day < end:
        if rng.random() < ALERTS_A_DAY:
            add(rng.choice(rules), _at(day, rng))
        day += timedelta(days=1)
    red = [r for r in rules if r.endswith(("-red", "-severe"))] or rules
    for started in admissions:        # most admissions since enrolment: an alert shortly before
        if rules and enrolled < started < end and rng.random() < 0.6:
            add(rng.choice(red), _at(started - timedelta(days=rng.randint(1, 6)), rng),
                outcome=rng.choice(("visit-arranged", "admitted", "advice-given")))
    if noisy is not None:             # six alerts, 94–95 %, resolved without action
        first = 70 if noisy == "accepted" else 27
        for i in range(6):
            add(NOISY_RULE, _at(today - timedelta(days=first - 4 * i), rng), float(94 + i % 2),
                ("no-action-needed", "measurement-error")[i % 2])
    return out


def _handle(conn: psycopg.Connection[Any], a: Planned, episode: str, severity: str,
            metric: Any, actor: Actor) -> datetime:
    """Store the alert as the hub would have, then acknowledge and resolve it on time."""
    _, _, text = WORST[a.rule_id]
    reading = {"value": a.worst, "time": a.at.isoformat(), "rule": a.rule_id,
               "severity": severity}
    values = {"rule": a.rule_id, "latest": reading, "worst": reading, "history": "demo"}
    row = conn.execute(_ALERT_SQL, (episode, severity, f"{text.format(v=a.worst)} "
                                    f"({a.rule_id}).", metric, a.at, a.at, a.at,
                                    Jsonb(values), a.patient_id)).fetchone()
    assert row is not None
    alert_id = int(row["id"] if isinstance(row, dict) else row[0])
    add_event(conn, alert_id, "opened", a.at, data={"rule": a.rule_id, "severity": severity})
    acked = a.at + timedelta(minutes=a.handling.ack_minutes)
    done = acked + timedelta(minutes=a.handling.resolve_minutes)
    with clock.use_clock(clock.FixedClock(acked)):
        acknowledge(conn, alert_id, actor, "Reviewed the readings.")
    if severity == "amber" and _watched(a):
        # Stable on review: watched for a day, back in the inbox at its end, then settled.
        until = acked + WATCH_FOR
        with clock.use_clock(clock.FixedClock(acked)):
            watch(conn, alert_id, actor, until, WATCH_REASON)
        with clock.use_clock(clock.FixedClock(until)):
            end_due_watches(conn, until)
        acked = until + timedelta(minutes=a.handling.ack_minutes)
        done = acked + timedelta(minutes=a.handling.resolve_minutes)
        with clock.use_clock(clock.FixedClock(acked)):
            acknowledge(conn, alert_id, actor, "Reviewed after the watch.")
    with clock.use_clock(clock.FixedClock(done)):
        resolve(conn, alert_id, actor, a.handling.outcome, None)
    return done


def _watched(a: Planned) -> bool:
    """Whether the team watched this amber alert (about one in seven), drawn from the alert
    itself so the rest of the history's draws are unchanged."""
    draw = random.Random(f"watch:{a.patient_id}:{a.rule_id}:{a.at.isoformat()}").random()
    return draw < WATCH_SHARE


def _accept(conn: psycopg.Connection[Any], pid: int, team_id: int,
            staff: dict[int, list[Actor]], today: date) -> None:
    """The matron accepts the suggestion five weeks ago, with her reason."""
    catalogue = load_catalogue()
    rule = catalogue.get(NOISY_RULE)
    assert rule is not None
    subject = load_subjects(conn, [pid])[pid]
    suggestion = suggest_threshold(rule, subject.params(rule), [94.0, 95.0], catalogue,
                                   subject.overrides)
    matron = next((a for a in staff[team_id] if a.name.startswith("matron")), staff[team_id][0])
    at = datetime.combine(today - timedelta(days=38), time(10), UTC)
    with clock.use_clock(clock.FixedClock(at)):
        accept_suggestion(conn, pid, NOISY_RULE, suggestion.params, suggestion.unit,
                          ACCEPTED_REASON, matron.name, matron.staff_id, at)
