"""The demo trust's past: patients enrolled months back, hospital episodes in the year before
enrolment and fewer since, and a comparison cohort of people not monitored, with the same kind
of episodes and little change. Deterministic from the seed. Written with the months of alerts
and how the team handled them by `telehub alerts demo-staff --history` (alerts.demo_history),
which `telehub demo` runs after seeding; a plain `telehub seed --demo` enrols everyone today."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import psycopg

from telehub.care.comparison import ComparisonRow, store_comparison_rows
from telehub.care.episodes import record_episode
from telehub.care.plan import add_months
from telehub.demo.caseload import DemoPatient
from telehub.domain import clock
from telehub.domain.nhs_number import synthetic_nhs_numbers

# Emergency admissions and A&E attendances a year before enrolment (complex: two or more
# conditions), and the share drawn after enrolment: lower than Cornwall's Living Well (−34 %,
# −21 %) because the care data (telehub.demo.care) adds ten recent episodes of complex
# patients on top, which brings each team near those figures.
ADMISSIONS_A_YEAR = {True: 1.4, False: 0.7}
AE_A_YEAR = {True: 1.2, False: 0.7}
AFTER_SHARE = {"emergency-admission": 0.5, "ae-attendance": 0.65}
COMPARISON_SHARE = {"emergency-admission": 0.97, "ae-attendance": 0.98}   # little change
COMPARISON_PER_TEAM = 40
# Patients enrolled months back have no readings until the simulators' backfill of the last
# month lands (about a minute): missing-reading checks wait this long, so the hub does not
# open 60 "no readings" alerts at its first start.
SYNC_GRACE = timedelta(minutes=15)


@dataclass(frozen=True)
class Enrolled:
    """A demo patient as the history sees them."""

    p: DemoPatient
    pid: int
    enrolled: date


def _poisson(rng: random.Random, mean: float) -> int:
    n, total = 0, rng.expovariate(1.0) if mean > 0 else float("inf")
    while total < mean:
        n += 1
        total += rng.expovariate(1.0)
    return n


def add_history(conn: psycopg.Connection[Any], plan: list[DemoPatient], patient_ids: list[int],
                seed: int, today: date) -> None:
    """Enrolments months back, episodes before and since, the comparison cohort."""
    rng = random.Random(f"{seed}:history")
    people = []
    for p, pid in zip(plan, patient_ids, strict=True):
        months = rng.randint(1, 5) if rng.random() < 0.15 else rng.randint(7, 18)
        enrolled = add_months(today, -months) - timedelta(days=rng.randint(0, 20))
        conn.execute("UPDATE patients SET enrolled_at = %s WHERE id = %s",
                     (clock.day_start(enrolled) + timedelta(hours=rng.randint(9, 16)), pid))
        people.append(Enrolled(p, pid, enrolled))
    conn.execute("UPDATE patients SET paused_until = %s WHERE id = ANY(%s)",
                 (clock.now() + SYNC_GRACE, patient_ids))
    for e in people:
        _episodes(conn, rng, e, today)
    for team in sorted({e.p.team for e in people}):
        _comparison(conn, rng, team, people, today, seed)


def _stay(rng: random.Random) -> int:
    return max(1, round(rng.lognormvariate(1.4, 0.6)))       # median 4 nights


def _episodes(conn: psycopg.Connection[Any], rng: random.Random, e: Enrolled,
              today: date) -> None:
    complex_ = len(e.p.conditions) > 1
    start = add_months(e.enrolled, -12)
    for name, first, stop in (("before", start, e.enrolled), ("after", e.enrolled, today)):
        years = (stop - first).days / 365.25
        for kind, base in (("emergency-admission", ADMISSIONS_A_YEAR[complex_]),
                           ("ae-attendance", AE_A_YEAR[complex_])):
            mean = base * years * (1.0 if name == "before" else AFTER_SHARE[kind])
            for _ in range(_poisson(rng, mean)):
                day = first + timedelta(days=rng.randrange(max(1, (stop - first).days)))
                out = day + timedelta(days=_stay(rng)) if kind == "emergency-admission" else day
                if out >= today:
                    continue           # nobody is left in hospital by the history
                record_episode(conn, e.pid, kind, day, out, None, None, source="import",
                               who="seed", follow_up_days=None)


def _comparison(conn: psycopg.Connection[Any], rng: random.Random, team: int,
                people: list[Enrolled], today: date, seed: int) -> None:
    """People like the team's patients but not monitored, with the same kind of index date."""
    team_ids = {e.pid for e in people if e.p.team == team}
    row = conn.execute("SELECT team_id FROM patients WHERE id = %s",
                       (min(team_ids),)).fetchone()
    assert row is not None
    team_id = row["team_id"] if isinstance(row, dict) else row[0]
    numbers = synthetic_nhs_numbers(start=900_000 + 1000 * team + seed % 997)
    rows, n = [], 0
    for _ in range(COMPARISON_PER_TEAM):
        nhs = next(numbers)
        index = add_months(today, -rng.randint(7, 18)) - timedelta(days=rng.randint(0, 20))
        complex_ = rng.random() < 0.5
        episodes: list[tuple[str | None, date | None, date | None]] = []
        for name, first, stop in (("before", add_months(index, -12), index),
                                  ("after", index, today)):
            years = (stop - first).days / 365.25
            for kind, base in (("emergency-admission", ADMISSIONS_A_YEAR[complex_]),
                               ("ae-attendance", AE_A_YEAR[complex_])):
                mean = base * years * (1.0 if name == "before" else COMPARISON_SHARE[kind])
                for _ in range(_poisson(rng, mean)):
                    day = first + timedelta(days=rng.randrange(max(1, (stop - first).days)))
                    out = day + timedelta(days=_stay(rng)) if kind == "emergency-admission" \
                        else day
                    if out < today:
                        episodes.append((kind, day, out))
        for what, began, ended in episodes or [(None, None, None)]:
            n += 1
            rows.append(ComparisonRow(n, nhs, index, what, began, ended))
    store_comparison_rows(conn, team_id, rows, "seed")
