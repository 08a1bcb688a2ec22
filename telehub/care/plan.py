"""Care plans: review dates (quarterly, calendar months), each trigger in words, and the
plan's records (advice, review date, reviews)."""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import date
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from telehub.domain.units import SPECS, Metric, MetricSpec, format_limit

# Care plans are reviewed quarterly unless the nurse sets another date.
REVIEW_MONTHS = 3


def add_months(day: date, months: int) -> date:
    """The same day `months` later (the month's last day when it is shorter)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def next_review_due(reviewed_on: date) -> date:
    """When a care plan reviewed on `reviewed_on` falls due again (quarterly)."""
    return add_months(reviewed_on, REVIEW_MONTHS)


def review_overdue(review_due: date | None, today: date) -> bool:
    """True when the review date has passed (no date set: not overdue, but not planned)."""
    return review_due is not None and review_due < today


_BOUNDS = (("at_or_below", "at or below"), ("below", "below"), ("at_or_above", "at or above"),
           ("above", "above"))


def describe_trigger(metric: str | None, kind: str, params: Mapping[str, Any],
                     unit: str | None = None) -> str:
    """A trigger in the patient's words, e.g. "SpO2 at or below 91 %"; a limit stated in
    another `unit` reads in the canonical unit first: "Blood glucose below 3.0 mmol/L
    (54 mg/dL)"."""
    try:
        spec = SPECS[Metric(metric)] if metric else None
    except ValueError:
        spec = None
    label = spec.label if spec else (metric or "Reading")
    bounds = [f"{words} {_limit(spec, float(params[key]), unit)}" for key, words in _BOUNDS
              if isinstance(params.get(key), int | float)
              and not isinstance(params.get(key), bool)]
    if kind == "count" and bounds:
        return f"{label} {' or '.join(bounds)} {_count_words(params)}"
    if bounds:
        text = f"{label} {' or '.join(bounds)}"
        consecutive = params.get("consecutive")
        if isinstance(consecutive, int) and consecutive > 1:
            text += f" on {consecutive} readings in a row"
        return text
    if kind == "change" and "gain_kg" in params:
        return f"Weight up {params['gain_kg']:g} kg or more in {params.get('days', '?')} days"
    if kind == "change" and "loss_kg" in params:
        return f"Weight down {params['loss_kg']:g} kg or more in {params.get('days', '?')} days"
    if kind == "daily-rise":
        return (f"Weight up {params.get('rise_kg', '?')} kg or more a day on "
                f"{params.get('days', '?')} days in a row")
    if kind == "above-dry":
        return f"Weight {params.get('margin_kg', '?')} kg or more above your dry weight"
    if kind == "baseline-drop":
        return (f"{label} {params.get('points', '?')} points or more below your usual level "
                f"on {params.get('consecutive', '?')} readings in a row")
    if kind == "count":
        return f"{label} out of range {_count_words(params)}"
    return label


def _limit(spec: MetricSpec | None, limit: float, unit: str | None) -> str:
    if spec is None:
        return f"{limit:g}{f' {unit}' if unit else ''}"
    return format_limit(spec.metric, limit, unit)


def _count_words(params: Mapping[str, Any]) -> str:
    """'on 2 different days within 7 days', '3 times within 48 h'."""
    n = params.get("count", params.get("n", "?"))
    hours = params.get("hours")
    within = ""
    if isinstance(hours, int | float) and hours > 0:
        within = (f" within {hours / 24:g} days" if hours % 24 == 0 and hours > 48
                  else f" within {hours:g} h")
    if params.get("distinct_days"):
        return f"on {n} different days{within}"
    return f"{n} times{within}"


ENSURE_CARE_SQL = """
INSERT INTO patient_care (patient_id, updated_by) VALUES (%s, %s)
ON CONFLICT (patient_id) DO NOTHING
"""
ADVICE_SQL = """
UPDATE patient_care SET advice = %s, updated_at = now(), updated_by = %s WHERE patient_id = %s
"""
REVIEW_DUE_SQL = """
INSERT INTO patient_care (patient_id, review_due, updated_by) VALUES (%s, %s, %s)
ON CONFLICT (patient_id) DO UPDATE SET review_due = excluded.review_due,
    updated_by = excluded.updated_by, updated_at = now()
"""
REVIEW_SQL = """
INSERT INTO care_plan_reviews (patient_id, reviewed_on, reviewed_by, reviewer, note, next_due)
VALUES (%s, %s, %s, %s, %s, %s)
"""


def ensure_care_record(conn: psycopg.Connection[Any], patient_id: int, updated_by: str) -> None:
    """The patient's care record exists (empty until someone fills it in)."""
    conn.execute(ENSURE_CARE_SQL, (patient_id, updated_by))


def set_advice(conn: psycopg.Connection[Any], patient_id: int, advice: Mapping[str, str],
               updated_by: str) -> None:
    """Replace the plan's advice per episode (the care record must exist)."""
    conn.execute(ADVICE_SQL, (Jsonb(dict(advice)), updated_by, patient_id))


def set_review_due(conn: psycopg.Connection[Any], patient_id: int, due: date,
                   updated_by: str) -> None:
    """When the plan is next due for review."""
    conn.execute(REVIEW_DUE_SQL, (patient_id, due, updated_by))


def record_review(conn: psycopg.Connection[Any], patient_id: int, reviewed_on: date,
                  next_due: date, *, reviewer_id: int | None, reviewer: str, note: str | None,
                  updated_by: str) -> None:
    """A review of the plan, and the date the next one falls due."""
    conn.execute(REVIEW_SQL, (patient_id, reviewed_on, reviewer_id, reviewer, note, next_due))
    set_review_due(conn, patient_id, next_due, updated_by)
