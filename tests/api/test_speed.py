"""Timings: `GET /caseload` for a 500-patient team and a year of daily buckets (marked slow).

Run with `-m slow -s` to see the numbers; the assertions are generous ceilings, the printed
ratios (API time / plain SELECT of the same rows) are what to compare between changes.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from api.queries.caseload import CASELOAD_SQL
from tests.api.conftest import LiveApi

PATIENTS = 500
DAYS = 365

SEED_SQL = """
WITH made AS (
    INSERT INTO patients (nhs_number, given_name, family_name, birth_date, team_id,
                          conditions, care_plan, enrolled_at)
    SELECT n.nhs, 'Given' || n.i, 'Family' || n.i, DATE '1945-01-01', %(team)s,
           ARRAY['heart-failure', 'copd'],
           '{"weight": {"per_day": 1}, "spo2": {"per_day": 2}, "pulse": {"per_day": 2}}',
           now() - INTERVAL '400 days'
    FROM unnest(%(nhs)s::text[]) WITH ORDINALITY AS n(nhs, i)
    RETURNING id
), dev AS (
    INSERT INTO devices (device_id, kind, patient_id)
    SELECT 'bench-' || k || '-' || id, k::device_kind, id FROM made, unnest(ARRAY['scale',
           'oximeter']) AS k
    RETURNING id, kind, patient_id
)
INSERT INTO readings (time, patient_id, device_id, metric, value, unit, raw_value, raw_unit,
                      reading_key)
SELECT t, d.patient_id, d.id, m.metric::metric, m.base + (random() * 4), m.unit::unit,
       m.base, m.unit::input_unit, t::text
FROM dev d
JOIN (VALUES ('scale', 'weight', 80.0, 'kg', 24), ('oximeter', 'spo2', 93.0, '%%', 12),
             ('oximeter', 'pulse', 75.0, '/min', 12)) AS m(kind, metric, base, unit, hours)
  ON m.kind = d.kind::text
CROSS JOIN LATERAL generate_series(%(now)s - make_interval(days => %(days)s), %(now)s,
                                   make_interval(hours => m.hours)) AS t
"""


def _timed(fn: object, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best


@pytest.mark.slow
def test_caseload_and_a_year_of_daily_buckets_are_fast(live_api: LiveApi,
                                                       conn: psycopg.Connection) -> None:
    from telehub.domain.nhs_number import synthetic_nhs_numbers

    numbers = synthetic_nhs_numbers(1000)
    nhs = [next(numbers) for _ in range(PATIENTS)]
    team = live_api.world.teams["north"]
    now = datetime.now(UTC)
    conn.execute(SEED_SQL, {"team": team, "nhs": nhs, "now": now, "days": DAYS})
    conn.commit()
    conn.execute("ANALYZE")
    conn.commit()
    some = conn.execute("SELECT id FROM patients WHERE nhs_number = %s", (nhs[0],)
                        ).fetchone()["id"]
    with live_api.client("matron") as c:
        rows = c.get("/caseload").json()["rows"]
        assert len(rows) == PATIENTS + 2
        api_caseload = _timed(lambda: c.get("/caseload").raise_for_status())
        frm = (now - timedelta(days=DAYS)).isoformat()
        year = c.get(f"/patients/{some}/readings", params={"bucket": "day", "from": frm})
        assert len(year.json()["buckets"]) >= 3 * DAYS
        api_year = _timed(lambda: c.get(f"/patients/{some}/readings",
                                        params={"bucket": "day", "from": frm}
                                        ).raise_for_status())
        api_week_raw = _timed(lambda: c.get(f"/patients/{some}/readings").raise_for_status())
    plain_patients = _timed(lambda: conn.execute(
        "SELECT * FROM patients WHERE team_id = %s", (team,)).fetchall())
    conn.execute("SET jit = off")
    caseload_sql = _timed(lambda: conn.execute(CASELOAD_SQL, {
        "team": team, "nurse": None, "now": now, "trend_from": now - timedelta(days=7),
        "zone": "Europe/London"}).fetchall())
    plain_year = _timed(lambda: conn.execute(
        "SELECT * FROM readings WHERE patient_id = %s AND time >= %s", (some, frm)).fetchall())
    ratio = api_caseload / plain_patients
    print(f"\nGET /caseload ({PATIENTS} patients): {api_caseload * 1000:.0f} ms; plain SELECT of "
          f"the patients: {plain_patients * 1000:.1f} ms; ratio {ratio:.0f}; the caseload "
          f"query alone: {caseload_sql * 1000:.0f} ms; ratio {api_caseload / caseload_sql:.1f}")
    print(f"GET readings?bucket=day (1 year): {api_year * 1000:.0f} ms; plain SELECT of the "
          f"year's raw rows: {plain_year * 1000:.1f} ms; ratio {api_year / plain_year:.1f}")
    print(f"GET readings (7 days raw): {api_week_raw * 1000:.0f} ms")
    assert api_caseload < 2.0 and api_year < 1.0
