"""Before/after outcomes: emergency admissions, A&E attendances and bed days of the patients
monitored for at least 6 months, in the 12 months before enrolment against the months since,
per 1,000 patient-years with exact intervals (telehub.domain.rates); and the same for an
imported comparison cohort, as a difference in differences."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from api.deps import DbConn
from api.schemas.before_after import BeforeAfterOut, DifferenceOut, GroupOut, MeasureOut, RateOut
from telehub.care.plan import add_months
from telehub.domain import clock, rates
from telehub.domain.codes import EpisodeKind

MIN_MONTHS = 6        # monitored at least this long to be counted
BEFORE_MONTHS = 12    # the baseline: the 12 months before enrolment
MEASURES = (("emergency_admissions", "Emergency admissions"),
            ("ae_attendances", "A&E attendances"),
            ("bed_days", "Bed days (emergency admissions)"))
TOO_SMALL_RULE = (f"A rate from fewer than {rates.MIN_EVENTS} events or fewer than "
                  f"{rates.MIN_PATIENT_YEARS:g} patient-years is too small to mean anything; "
                  "so is any difference that uses one.")
DEFINITIONS = {
    "monitored_patients": f"The team's patients enrolled at least {MIN_MONTHS} months before "
                          "today and monitored for at least that long (to today, or to their "
                          "discharge from monitoring).",
    "before": f"The {BEFORE_MONTHS} calendar months before the enrolment day (local "
              "calendar, Europe/London); each patient contributes one patient-year.",
    "after": "From the enrolment day to today (or the day of discharge from monitoring), "
             "inclusive.",
    "events": "Episodes counted by the day they started; bed days are the nights of emergency "
              "admissions inside the window (a stay across enrolment is split; a stay not yet "
              "discharged counts to today).",
    "rates": "Per 1,000 patient-years (365.25 days). 95 % intervals are exact Poisson "
             "(Garwood) intervals from the chi-squared distribution. Bed days are not "
             "independent events (nights cluster in stays), so their interval is too narrow.",
    "change": "After minus before, per 1,000 patient-years, with a Wald interval: ± 1.96 × "
              "the square root of the sum of count / patient-years².",
    "difference_in_differences": "(after − before) of the monitored patients minus (after − "
                                 "before) of the comparison cohort, per 1,000 patient-years, "
                                 "with a Wald interval from the four counts treated as "
                                 "independent Poisson counts (it ignores that the same people "
                                 "are counted before and after, so it is, if anything, too "
                                 "narrow).",
    "comparison_members": f"People of the imported comparison cohort whose enrolment-"
                          f"equivalent date is at least {MIN_MONTHS} months before today.",
}


@dataclass(frozen=True)
class Person:
    """Someone counted: the enrolment (or equivalent) day and the last day followed."""

    key: int
    index_day: date
    last_day: date


@dataclass(frozen=True)
class Episode:
    """A hospital episode as the counts see it."""

    kind: str
    started_on: date
    discharged_on: date | None


def eligible(index_day: date, last_day: date) -> bool:
    """Monitored (or followed) for at least MIN_MONTHS months."""
    return add_months(index_day, MIN_MONTHS) <= last_day


def _nights(e: Episode, start: date, stop: date, today: date) -> int:
    out = e.discharged_on or today
    return max(0, (min(stop, out) - max(start, e.started_on)).days)


def group_counts(people: Sequence[Person], episodes: Mapping[int, Sequence[Episode]],
                 today: date) -> dict[str, tuple[rates.Rate, rates.Rate]]:
    """Per measure, the (before, after) rates of these people."""
    years = {"before": 0.0, "after": 0.0}
    counts: dict[str, dict[str, int]] = {m: {"before": 0, "after": 0} for m, _ in MEASURES}
    for p in people:
        windows = {"before": (add_months(p.index_day, -BEFORE_MONTHS), p.index_day),
                   "after": (p.index_day, p.last_day + timedelta(days=1))}
        for name, (start, stop) in windows.items():
            years[name] += (stop - start).days / rates.DAYS_PER_YEAR
            for e in episodes.get(p.key, ()):
                inside = start <= e.started_on < stop
                if e.kind == EpisodeKind.EMERGENCY_ADMISSION:
                    counts["emergency_admissions"][name] += inside
                    counts["bed_days"][name] += _nights(e, start, stop, today)
                elif e.kind == EpisodeKind.AE_ATTENDANCE:
                    counts["ae_attendances"][name] += inside
    return {m: (rates.rate(c["before"], years["before"]), rates.rate(c["after"], years["after"]))
            for m, c in counts.items()}


def _rate_out(r: rates.Rate) -> RateOut:
    return RateOut(events=r.events, patient_years=round(r.patient_years, 2),
                   per_1000=r.per_1000, ci_low=r.low, ci_high=r.high, too_small=r.too_small)


def _diff_out(d: rates.Difference) -> DifferenceOut:
    return DifferenceOut(per_1000=d.per_1000, ci_low=d.low, ci_high=d.high,
                         too_small=d.too_small)


def _group(pair: tuple[rates.Rate, rates.Rate]) -> GroupOut:
    before, after = pair
    return GroupOut(before=_rate_out(before), after=_rate_out(after),
                    change=_diff_out(rates.difference([after], [before])))


PATIENTS_SQL = "SELECT id, enrolled_at, discharged_at FROM patients WHERE team_id = %s"
EPISODES_SQL = """
SELECT patient_id AS key, kind, started_on, discharged_on FROM hospital_episodes
WHERE patient_id = ANY(%s)
"""
MEMBERS_SQL = "SELECT id, index_date FROM comparison_members WHERE team_id = %s"
MEMBER_EPISODES_SQL = """
SELECT member_id AS key, kind, started_on, discharged_on FROM comparison_episodes
WHERE member_id = ANY(%s)
"""


def _episodes(rows: Iterable[Mapping[str, Any]]) -> dict[int, list[Episode]]:
    out: dict[int, list[Episode]] = defaultdict(list)
    for r in rows:
        out[r["key"]].append(Episode(r["kind"], r["started_on"], r["discharged_on"]))
    return out


def monitored_people(conn: DbConn, team_id: int, today: date, zone: ZoneInfo) -> list[Person]:
    """The team's patients monitored for at least MIN_MONTHS months."""
    people = []
    for r in conn.execute(PATIENTS_SQL, (team_id,)).fetchall():
        index = clock.service_date(r["enrolled_at"], zone)
        last = min(today, clock.service_date(r["discharged_at"], zone)
                   if r["discharged_at"] else today)
        if eligible(index, last):
            people.append(Person(r["id"], index, last))
    return people


def before_after(conn: DbConn, team_id: int, zone: ZoneInfo) -> BeforeAfterOut:
    """The team's before/after figures as of today on the service calendar."""
    today = clock.today(zone)
    people = monitored_people(conn, team_id, today, zone)
    monitored = group_counts(people, _episodes(conn.execute(
        EPISODES_SQL, ([p.key for p in people],)).fetchall()), today)
    members = [Person(r["id"], r["index_date"], today)
               for r in conn.execute(MEMBERS_SQL, (team_id,)).fetchall()
               if eligible(r["index_date"], today)]
    comparison = group_counts(members, _episodes(conn.execute(
        MEMBER_EPISODES_SQL, ([m.key for m in members],)).fetchall()), today) if members else {}
    measures = []
    for name, label in MEASURES:
        mine, theirs = monitored[name], comparison.get(name)
        did = None if theirs is None else _diff_out(rates.difference(
            [mine[1], theirs[0]], [mine[0], theirs[1]]))
        measures.append(MeasureOut(measure=name, label=label, monitored=_group(mine),
                                   comparison=None if theirs is None else _group(theirs),
                                   difference_in_differences=did))
    small = any(m.monitored.before.too_small or m.monitored.after.too_small
                or (m.comparison is not None and (m.comparison.before.too_small
                                                  or m.comparison.after.too_small))
                for m in measures)
    return BeforeAfterOut(team_id=team_id, as_of=today, monitored_patients=len(people),
                          comparison_members=len(members), measures=measures, too_small=small,
                          too_small_rule=TOO_SMALL_RULE, definitions=DEFINITIONS)


CSV_COLUMNS = ("measure", "group", "period", "events", "patient_years", "per_1000_patient_years",
               "ci_low", "ci_high", "too_small")


def csv_rows(out: BeforeAfterOut) -> list[dict[str, Any]]:
    """The figures as CSV rows: each rate, each change and each difference in differences."""
    rows: list[dict[str, Any]] = []
    for m in out.measures:
        groups = [("monitored", m.monitored)] + ([("comparison", m.comparison)]
                                                 if m.comparison else [])
        for group, g in groups:
            for period, r in (("before", g.before), ("after", g.after)):
                rows.append({"measure": m.measure, "group": group, "period": period,
                             "events": r.events, "patient_years": r.patient_years,
                             "per_1000_patient_years": r.per_1000, "ci_low": r.ci_low,
                             "ci_high": r.ci_high, "too_small": r.too_small})
            rows.append(_diff_row(m.measure, group, "after minus before", g.change))
        if m.difference_in_differences is not None:
            rows.append(_diff_row(m.measure, "monitored minus comparison",
                                  "difference in differences", m.difference_in_differences))
    return rows


def _diff_row(measure: str, group: str, period: str, d: DifferenceOut) -> dict[str, Any]:
    return {"measure": measure, "group": group, "period": period, "events": None,
            "patient_years": None, "per_1000_patient_years": d.per_1000, "ci_low": d.ci_low,
            "ci_high": d.ci_high, "too_small": d.too_small}
