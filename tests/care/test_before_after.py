"""Before/after outcomes over HTTP equal the figures worked out by hand on a small seeded team,
exact Poisson intervals included (Garwood's published table), with a comparison cohort
imported as CSV (bad rows listed, good ones kept) and the difference in differences; the same
figures as CSV; small numbers said to be too small."""

from __future__ import annotations

import csv
import io
import math
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from telehub.domain import clock
from telehub.domain.nhs_number import synthetic_nhs_numbers
from telehub.domain.rates import rate
from tests.api.conftest import LiveApi

LONDON = ZoneInfo("Europe/London")
# Garwood's exact 95 % limits of a Poisson count (published tables), n: (lower, upper).
GARWOOD = {0: (0.0, 3.6889), 1: (0.0253, 5.5716), 2: (0.2422, 7.2247), 4: (1.0899, 10.2416),
           6: (2.2019, 13.0595), 8: (3.4538, 15.7632), 10: (4.7954, 18.3904)}
# Two local times of the same day: figures are by the service's calendar day, not the hour.
ANCHORS = [datetime(2026, 12, 1, 0, 5, tzinfo=LONDON), datetime(2026, 12, 1, 23, 55, tzinfo=LONDON)]


def _episode(conn: psycopg.Connection[Any], patient: int, kind: str, started: str,
             discharged: str | None = None) -> None:
    conn.execute("INSERT INTO hospital_episodes (patient_id, kind, started_on, discharged_on, "
                 "source, recorded_by) VALUES (%s, %s, %s, %s, 'manual', 'seed')",
                 (patient, kind, date.fromisoformat(started),
                  date.fromisoformat(discharged) if discharged else None))


def _seed(api: LiveApi, conn: psycopg.Connection[Any]) -> None:
    p = api.world.patients
    # ann: enrolled 1 Dec 2025 (12 months); bob: 1 Jun 2026 00:30 BST, 31 May 23:30 UTC
    # (6 months to the day). Not counted: dee (a day short of 6 months), eve (discharged
    # after 3 months), cat (another team).
    enrol = {"ann": "2025-12-01T00:30Z", "bob": "2026-05-31T23:30Z", "cat": "2025-01-01T09:00Z"}
    for key, at in enrol.items():
        conn.execute("UPDATE patients SET enrolled_at = %s WHERE id = %s", (at, p[key]))
    numbers = synthetic_nhs_numbers(start=8100)
    from telehub.care import registration as registry
    for key, at, gone in (("dee", "2026-06-02T09:00Z", None),
                          ("eve", "2025-12-01T09:00Z", "2026-03-01T09:00Z")):
        p[key] = registry.add_patient(conn, nhs_number=next(numbers), given_name=key.title(),
                                      family_name="Zed", birth_date=date(1944, 4, 4),
                                      team="north", conditions=["copd"])
        conn.execute("UPDATE patients SET enrolled_at = %s, discharged_at = %s, status = "
                     "CASE WHEN %s::timestamptz IS NULL THEN 'active' ELSE 'discharged' END::"
                     "patient_status WHERE id = %s", (at, gone, gone, p[key]))
    adm, ae = "emergency-admission", "ae-attendance"
    _episode(conn, p["ann"], adm, "2025-03-10", "2025-03-15")   # before: 5 nights
    _episode(conn, p["ann"], adm, "2025-11-28", "2025-12-04")   # before; 3 nights + 3 after
    _episode(conn, p["ann"], ae, "2026-02-01")                  # after
    _episode(conn, p["ann"], adm, "2026-11-30")                 # after; in hospital: 1 night
    _episode(conn, p["bob"], ae, "2025-07-01")                  # before
    _episode(conn, p["bob"], ae, "2025-09-09")                  # before
    _episode(conn, p["bob"], adm, "2026-08-01", "2026-08-03")   # after: 2 nights
    _episode(conn, p["bob"], adm, "2024-05-01", "2024-05-02")   # before the 12 months
    _episode(conn, p["dee"], adm, "2026-07-01", "2026-07-05")   # dee is not counted
    _episode(conn, p["eve"], adm, "2026-01-01", "2026-01-05")   # nor eve
    _episode(conn, p["cat"], adm, "2026-01-01", "2026-01-05")   # nor cat
    conn.commit()


def _rate(events: int, days: int) -> dict[str, object]:
    years = days / 365.25
    low, high = GARWOOD[events]
    return {"events": events, "patient_years": round(years, 2),
            "per_1000": round(events / years * 1000, 2),
            "ci_low": pytest.approx(low / years * 1000, abs=0.1),
            "ci_high": pytest.approx(high / years * 1000, abs=0.1), "too_small": True}


def _wald(counts: list[tuple[int, int, int]]) -> tuple[float, float, float]:
    """(sign, events, days) terms: the difference and its Wald 95 % limits, per 1,000."""
    value = sum(s * n / (d / 365.25) for s, n, d in counts)
    spread = 1.96 * math.sqrt(sum(n / (d / 365.25) ** 2 for _, n, d in counts))
    return value * 1000, (value - spread) * 1000, (value + spread) * 1000


COHORT = """nhs_number,index_date,kind,started_on,discharged_on
{a},2026-01-15,emergency-admission,2025-05-05,2025-05-09
{a},2026-01-15,admission,2026-03-03,2026-03-04
{a},2026-01-15,A&E,2026-04-04,
{b},01/05/2026,,,
{c},2026-10-01,,,
1234567890,2026-01-15,,,
{ann},2026-01-15,,,
{b},2026-05-01,ae-attendance,2027-01-01,
"""


@pytest.mark.parametrize("anchor", ANCHORS, ids=lambda a: a.strftime("%Y-%m-%d-%H%M"))
def test_before_after_figures_equal_the_hand_computed_values(care_api: LiveApi,
                                                             conn: psycopg.Connection[Any],
                                                             anchor: datetime) -> None:
    _seed(care_api, conn)
    north = care_api.world.teams["north"]
    matron, manager = care_api.client("matron"), care_api.client("manager")
    numbers = synthetic_nhs_numbers(start=8200)
    a, b, c = next(numbers), next(numbers), next(numbers)
    with clock.use_clock(clock.FixedClock(anchor)):
        body = COHORT.format(a=a, b=b, c=c, ann="9990000026")
        r = matron.post(f"/teams/{north}/comparison-cohort", content=body.encode(),
                        headers={"Content-Type": "text/csv"})
        assert r.status_code == 200, r.text
        result = r.json()
        assert (result["rows"], result["imported"]) == (8, 5)
        assert [(e["row"], e["code"]) for e in result["errors"]] == [
            (6, "bad-nhs-number"), (7, "monitored-patient"), (8, "future-date")]
        r = manager.get(f"/teams/{north}/before-after")
        assert r.status_code == 200, r.text
        out = r.json()
        csv_text = manager.get(f"/teams/{north}/before-after.csv").text
    assert out["as_of"] == "2026-12-01"
    assert (out["monitored_patients"], out["comparison_members"]) == (2, 2)
    assert out["too_small"] is True and "fewer than 10 events" in out["too_small_rule"]
    m = {x["measure"]: x for x in out["measures"]}
    # Monitored: 365 + 365 days before; 366 (ann, to today inclusive) + 184 (bob) after.
    # Comparison: 365 + 365 before; 321 (from 15 Jan) + 215 (from 1 May) after.
    expected = {"emergency_admissions": ((2, 2), (1, 1)), "ae_attendances": ((2, 1), (0, 1)),
                "bed_days": ((8, 6), (4, 1))}
    for name, ((mb, ma), (cb, ca)) in expected.items():
        assert m[name]["monitored"]["before"] == _rate(mb, 730), name
        assert m[name]["monitored"]["after"] == _rate(ma, 550), name
        assert m[name]["comparison"]["before"] == _rate(cb, 730), name
        assert m[name]["comparison"]["after"] == _rate(ca, 536), name
        value, low, high = _wald([(1, ma, 550), (-1, mb, 730), (-1, ca, 536), (1, cb, 730)])
        did = m[name]["difference_in_differences"]
        assert did["per_1000"] == pytest.approx(value, abs=0.01), name
        assert did["ci_low"] == pytest.approx(low, abs=0.05), name
        assert did["ci_high"] == pytest.approx(high, abs=0.05), name
        assert did["too_small"] is True
        change = m[name]["monitored"]["change"]
        value, low, high = _wald([(1, ma, 550), (-1, mb, 730)])
        assert change["per_1000"] == pytest.approx(value, abs=0.01), name
        assert change["ci_low"] == pytest.approx(low, abs=0.05), name
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    first = rows[0]
    assert (first["measure"], first["group"], first["period"], first["events"]) == (
        "emergency_admissions", "monitored", "before", "2")
    assert float(first["per_1000_patient_years"]) == m["emergency_admissions"]["monitored"][
        "before"]["per_1000"]
    assert [r["period"] for r in rows if r["measure"] == "bed_days"][-1] == \
        "difference in differences"


def test_before_after_without_a_cohort_and_who_may_see_it(care_api: LiveApi,
                                                          conn: psycopg.Connection[Any]) -> None:
    _seed(care_api, conn)
    north, south = care_api.world.teams["north"], care_api.world.teams["south"]
    with clock.use_clock(clock.FixedClock(ANCHORS[0])):
        out = care_api.client("matron").get(f"/teams/{north}/before-after").json()
        assert out["comparison_members"] == 0
        assert all(x["comparison"] is None and x["difference_in_differences"] is None
                   for x in out["measures"])
        assert care_api.client("nurse").get(f"/teams/{north}/before-after").status_code == 403
        assert care_api.client("manager").get(f"/teams/{south}/before-after").status_code == 404
        assert care_api.client("manager").post(
            f"/teams/{north}/comparison-cohort", content=b"nhs_number,index_date\n",
            headers={"Content-Type": "text/csv"}).status_code == 403


def test_a_rate_is_too_small_below_10_events_or_20_patient_years() -> None:
    enough = rate(10, 20.0)
    assert not enough.too_small and enough.per_1000 == 500.0
    assert (enough.low, enough.high) == (pytest.approx(GARWOOD[10][0] / 20 * 1000, abs=0.01),
                                         pytest.approx(GARWOOD[10][1] / 20 * 1000, abs=0.01))
    assert rate(9, 100.0).too_small and rate(50, 19.9).too_small
    assert rate(0, 0.0).per_1000 is None
