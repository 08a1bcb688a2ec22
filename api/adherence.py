"""Adherence in SQL: readings received against what a care plan expects, one patient at a time.

The team statistics and the caseload both build their queries from these fragments, so the
two figures are computed one way: a care plan slot `{"per_day": n}` for a metric expects n
readings a day over the window; received readings count per UTC day at most the plan's n,
so extra readings one day do not hide missing ones another. Each fragment is SQL text over
the column expressions it is given (trusted SQL written in this package, never user input);
its own aliases (am, pm, slots, ar, earliest, daily) do not shadow the caller's.
"""

from __future__ import annotations


def monitored_from(patient: str) -> str:
    """When monitoring of `patient` (a patients row alias) began: the earlier of enrolment
    and its first reading (history loaded from a device predates a registration made today).
    One index lookup per metric."""
    return f"""LEAST({patient}.enrolled_at, (
    SELECT min(earliest.time) FROM unnest(enum_range(NULL::metric)) AS am(metric)
    CROSS JOIN LATERAL (SELECT ar.time FROM readings ar
                        WHERE ar.patient_id = {patient}.id AND ar.metric = am.metric
                        ORDER BY ar.time LIMIT 1) AS earliest))"""  # noqa: S608


def planned_per_day(plan: str, metric: str) -> str:
    """Readings a day the care plan `plan` (jsonb) expects of `metric` (text), else NULL:
    the plan's slot for a metric is `{"per_day": <whole number>}`."""
    slot = f"{plan} -> {metric}"
    return (f"(CASE WHEN jsonb_typeof({slot}) = 'object' AND ({slot} ->> 'per_day') ~ '^[0-9]+$'"
            f" THEN ({slot} ->> 'per_day')::numeric END)")


def expected_readings(plan: str, start: str, end: str) -> str:
    """Readings the care plan `plan` (jsonb) expects over [start, end), unrounded (numeric)."""
    return f"""((SELECT COALESCE(sum({planned_per_day(plan, "pm.metric::text")}), 0)
      FROM unnest(enum_range(NULL::metric)) AS pm(metric))
    * EXTRACT(EPOCH FROM {end} - {start}) / 86400.0)"""  # noqa: S608


def daily_readings(patient: str, plan: str, start: str, end: str, *,
                   planned_only: bool = False, extra: str = "") -> str:
    """FROM-clause items: per metric (`am.metric`, with `am.per_day` the readings a day the
    care plan `plan` expects of it, or NULL) and UTC day (`daily.day`, a date), the count of
    patient id `patient`'s readings in [start, end) (`daily.n`) and any `extra` aggregates
    over `ar` (readings); `planned_only` leaves out the metrics the plan does not expect.

    One index range (patient, metric, time) per metric."""
    only = "WHERE per_day IS NOT NULL" if planned_only else ""
    # OFFSET 0: the plan is read once per metric, not once per day in each use of per_day.
    return f"""(SELECT * FROM (
        SELECT pm.metric, {planned_per_day(plan, "pm.metric::text")} AS per_day
        FROM unnest(enum_range(NULL::metric)) AS pm(metric) OFFSET 0) AS slots {only}) AS am
    CROSS JOIN LATERAL (
        SELECT (date_trunc('day', ar.time AT TIME ZONE 'UTC'))::date AS day,
               count(*) AS n{extra}
        FROM readings ar
        WHERE ar.patient_id = {patient} AND ar.metric = am.metric
          AND ar.time >= {start} AND ar.time < {end}
        GROUP BY 1) AS daily"""  # noqa: S608


# An aggregate over daily_readings rows: the readings that count towards the care plan, each
# metric's day counting at most the plan's readings a day.
CAPPED_RECEIVED = ("COALESCE(sum(LEAST(daily.n, am.per_day)) FILTER "
                   "(WHERE am.per_day IS NOT NULL), 0)::bigint")


def received_readings(patient: str, plan: str, start: str, end: str) -> str:
    """Readings of patient id `patient` in [start, end) that count towards the plan (see
    CAPPED_RECEIVED), as a scalar subquery."""
    return f"""(SELECT {CAPPED_RECEIVED}
    FROM {daily_readings(patient, plan, start, end, planned_only=True)})"""  # noqa: S608
