"""Adherence in SQL: readings received against what a care plan expects, one patient at a time.

The team statistics and the caseload both build their queries from these fragments, so the
two figures are computed one way: a care plan slot `{"per_day": n}` expects n readings a day
over the window; received readings count per UTC day at most the plan's n, so extra readings
one day do not hide missing ones another. Each fragment is a scalar SQL expression over the
column expressions it is given (trusted SQL text written in this package, never user input);
their own aliases (am, ar, slot, plan_slot, earliest, daily) do not shadow the caller's.
"""

from __future__ import annotations

# A care-plan slot `slot` (a jsonb_each row) that expects readings: {"per_day": <whole number>}.
_EXPECTS = "jsonb_typeof(slot.value) = 'object' AND (slot.value->>'per_day') ~ '^[0-9]+$'"


def monitored_from(patient: str) -> str:
    """When monitoring of `patient` (a patients row alias) began: the earlier of enrolment
    and its first reading (history loaded from a device predates a registration made today).
    One index lookup per metric."""
    return f"""LEAST({patient}.enrolled_at, (
    SELECT min(earliest.time) FROM unnest(enum_range(NULL::metric)) AS am(metric)
    CROSS JOIN LATERAL (SELECT ar.time FROM readings ar
                        WHERE ar.patient_id = {patient}.id AND ar.metric = am.metric
                        ORDER BY ar.time LIMIT 1) AS earliest))"""  # noqa: S608


def expected_readings(plan: str, start: str, end: str) -> str:
    """Readings the care plan `plan` (jsonb) expects over [start, end), unrounded (numeric)."""
    return f"""((SELECT COALESCE(sum((slot.value->>'per_day')::numeric), 0)
      FROM jsonb_each({plan}) AS slot WHERE {_EXPECTS})
    * EXTRACT(EPOCH FROM {end} - {start}) / 86400.0)"""  # noqa: S608


def received_readings(patient: str, plan: str, start: str, end: str) -> str:
    """Readings of patient id `patient` in [start, end) that count towards the plan: per
    metric the plan names and per UTC day, at most the plan's readings a day (bigint).

    One index range (patient, metric, time) per planned metric."""
    return f"""(SELECT COALESCE(sum(daily.n), 0)::bigint FROM (
    SELECT LEAST(count(*), max(plan_slot.per_day)) AS n
    FROM (SELECT am.metric, (slot.value->>'per_day')::numeric AS per_day
          FROM unnest(enum_range(NULL::metric)) AS am(metric)
          JOIN jsonb_each({plan}) AS slot ON slot.key = am.metric::text
          WHERE {_EXPECTS}) AS plan_slot
    JOIN readings ar ON ar.patient_id = {patient} AND ar.metric = plan_slot.metric
                   AND ar.time >= {start} AND ar.time < {end}
    GROUP BY plan_slot.metric, date_trunc('day', ar.time AT TIME ZONE 'UTC')) AS daily)"""  # noqa: S608
