"""Adherence in SQL, as telehub.domain.adherence defines it: for the API and the scheduler."""

from __future__ import annotations

from psycopg import sql

from telehub.domain.clock import SERVICE_ZONE_NAME
from telehub.domain.codes import LOW_QUALITY_FLAGS

# Each function returns SQL text over the column expressions it is given (trusted SQL written
# in Telehub, never user input), to be embedded in a caller's query whose values are bound;
# its own aliases (am, pm, slots, ar, earliest, daily, cr, sp, sd) do not shadow the caller's.
# `zone` is an SQL expression naming the service zone: a caller that binds the setting passes
# "%(zone)s"; the default is the service zone's name as a literal.
SERVICE_ZONE = sql.Literal(SERVICE_ZONE_NAME).as_string()
# A reading with any of these flags is not a reading received (codes.LOW_QUALITY_FLAGS).
_LOW_QUALITY = sql.Literal(sorted(LOW_QUALITY_FLAGS)).as_string() + "::text[]"
RECEIVED = f"NOT (ar.flags && {_LOW_QUALITY})"

# Readings received per patient, metric and local day (migration 0014: a continuous
# aggregate on TimescaleDB, a view on plain PostgreSQL), and the zone its days are in.
RECEIVED_DAILY = "readings_received_daily"
RECEIVED_DAILY_ZONE = "Europe/London"


def local_day(at: str, zone: str = SERVICE_ZONE) -> str:
    """The local calendar date (in `zone`) of the timestamptz expression `at`."""
    return f"(({at}) AT TIME ZONE {zone})::date"


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
    a slot is an object whose `per_day` is a whole number of at least 1."""
    per_day = f"({plan} -> {metric} -> 'per_day')"
    return (f"(CASE WHEN jsonb_typeof({plan} -> {metric}) = 'object'"
            f" AND jsonb_typeof({per_day}) = 'number' AND ({per_day} #>> '{{}}') ~ '^[0-9]+$'"
            f" AND ({per_day} #>> '{{}}')::numeric >= 1"
            f" THEN ({per_day} #>> '{{}}')::numeric END)")


def expected_readings(plan: str, start: str, end: str) -> str:
    """Readings the care plan `plan` (jsonb) expects over [start, end), unrounded (numeric)."""
    return f"""((SELECT COALESCE(sum({planned_per_day(plan, "pm.metric::text")}), 0)
      FROM unnest(enum_range(NULL::metric)) AS pm(metric))
    * EXTRACT(EPOCH FROM {end} - {start}) / 86400.0)"""  # noqa: S608


def daily_readings(patient: str, plan: str, start: str, end: str, *,
                   planned_only: bool = False, extra: str = "", zone: str = SERVICE_ZONE) -> str:
    """FROM-clause items: per metric (`am.metric`, with `am.per_day` the readings a day the
    care plan `plan` expects of it, or NULL) and local day (`daily.day`, a date in `zone`),
    the readings received of patient id `patient` in [start, end) (`daily.n`, low-quality
    ones left out) and any `extra` aggregates over all of them (`ar`, readings);
    `planned_only` leaves out the metrics the plan does not expect.

    One index range (patient, metric, time) per metric."""
    return f"""{_slots(plan, planned_only)}
    CROSS JOIN LATERAL (
        SELECT {local_day("ar.time", zone)} AS day,
               count(*) FILTER (WHERE {RECEIVED}) AS n{extra}
        FROM readings ar
        WHERE ar.patient_id = {patient} AND ar.metric = am.metric
          AND ar.time >= {start} AND ar.time < {end}
        GROUP BY 1) AS daily"""  # noqa: S608


def _slots(plan: str, planned_only: bool) -> str:
    """A FROM-clause item `am`: each metric and the readings a day `plan` expects of it."""
    only = "WHERE per_day IS NOT NULL" if planned_only else ""
    # OFFSET 0: the plan is read once per metric, not once per day in each use of per_day.
    return f"""(SELECT * FROM (
        SELECT pm.metric, {planned_per_day(plan, "pm.metric::text")} AS per_day
        FROM unnest(enum_range(NULL::metric)) AS pm(metric) OFFSET 0) AS slots {only}) AS am"""  # noqa: S608


def capped_received(n: str) -> str:
    """An aggregate over rows of a metric's day (`n` its readings received, `am.per_day` the
    plan's readings a day): the readings that count towards the care plan, each metric's day
    counting at most the plan's readings a day."""
    return (f"COALESCE(sum(LEAST({n}, am.per_day)) FILTER "
            "(WHERE am.per_day IS NOT NULL), 0)::bigint")


# capped_received over daily_readings rows.
CAPPED_RECEIVED = capped_received("daily.n")


def received_readings(patient: str, plan: str, start: str, end: str, *,
                      zone: str = SERVICE_ZONE) -> str:
    """Readings of patient id `patient` in [start, end) that count towards the plan (see
    CAPPED_RECEIVED), as a scalar subquery."""
    return f"""(SELECT {CAPPED_RECEIVED}
    FROM {daily_readings(patient, plan, start, end, planned_only=True, zone=zone)})"""  # noqa: S608


def metric_received(patient: str, metric: str, per_day: str, start: str, end: str, *,
                    zone: str = SERVICE_ZONE) -> str:
    """Readings of one `metric` (a metric expression) of patient id `patient` in [start, end)
    that count towards a plan expecting `per_day` a day, as a scalar subquery."""
    return f"""(SELECT COALESCE(sum(LEAST(cr.n, {per_day})), 0)::bigint FROM (
        SELECT count(*) AS n FROM readings ar
        WHERE ar.patient_id = {patient} AND ar.metric = {metric}
          AND ar.time >= {start} AND ar.time < {end} AND {RECEIVED}
        GROUP BY {local_day("ar.time", zone)}) AS cr)"""  # noqa: S608


def settled_bounds(start: str, end: str, first: str, last: str, *,
                   zone: str = SERVICE_ZONE) -> tuple[str, str]:
    """SQL for [a, b): the whole local days of [start, end) that lie in [first, last)
    (local midnights in `zone`: the days RECEIVED_DAILY holds exactly, which must be in
    `zone`'s days), from the first local midnight at or after both `start` and `first` to
    the last at or before both `end` and `last`. Without such days it collapses onto
    `end`. Counting [start, a) and [b, end) from the readings (received_readings) and
    [a, b) from RECEIVED_DAILY (received_on_days) splits no day and caps each once."""
    a = f"GREATEST({first}, {_next_midnight(start, zone)})"
    b = f"LEAST({last}, {_last_midnight(end, zone)})"
    return (f"(CASE WHEN {a} < {b} THEN {a} ELSE {end} END)",
            f"(CASE WHEN {a} < {b} THEN {b} ELSE {end} END)")


def received_on_days(spans: str, first: str, last: str) -> str:
    """A query: for each row of `spans` (columns id, care_plan, a, b: a patient and whole
    local days [a, b) inside [first, last)), its readings received on those days that count
    towards the plan, read from RECEIVED_DAILY (columns id, n); rows with none are left
    out. One scan of the aggregate for the patients of `spans`, bounded by [first, last)."""
    return f"""SELECT sp.id, {capped_received("sd.n")} AS n
    FROM {spans} sp
    CROSS JOIN LATERAL {_slots("sp.care_plan", planned_only=True)}
    JOIN {RECEIVED_DAILY} sd ON sd.patient_id = sp.id AND sd.metric = am.metric
     AND sd.day >= sp.a AND sd.day < sp.b
    WHERE sd.day >= {first} AND sd.day < {last}
      AND sd.patient_id = ANY(ARRAY(SELECT id FROM {spans}))
    GROUP BY sp.id"""  # noqa: S608


def _last_midnight(at: str, zone: str) -> str:
    """The local midnight (in `zone`) at or before the timestamptz expression `at`."""
    return f"(date_trunc('day', ({at}) AT TIME ZONE {zone}) AT TIME ZONE {zone})"


def _next_midnight(at: str, zone: str) -> str:
    """The local midnight (in `zone`) at or after the timestamptz expression `at`."""
    return (f"((date_trunc('day', (({at}) AT TIME ZONE {zone}) - INTERVAL '1 microsecond')"
            f" + INTERVAL '1 day') AT TIME ZONE {zone})")
