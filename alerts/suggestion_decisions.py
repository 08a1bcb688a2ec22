"""A clinician's decision on a suggested individual threshold: an acceptance is a threshold
change (alerts.thresholds.set_threshold) with their reason, linked to the decision; a
dismissal is recorded too and keeps the suggestion quiet for QUIET_DAYS days."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from alerts.suggestions import QUIET_DAYS
from alerts.thresholds import set_threshold

_INSERT_SQL = """
INSERT INTO threshold_suggestion_decisions (patient_id, rule_id, decision, params, reason,
                                            threshold_id, decided_by, decided_by_name,
                                            decided_at, quiet_until)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
RETURNING id, patient_id, rule_id, decision, params, reason, threshold_id, decided_by_name,
          decided_at, quiet_until
"""


def accept_suggestion(conn: psycopg.Connection, patient_id: int, rule_id: str,
                      params: Mapping[str, float], unit: str | None, reason: str, who: str,
                      staff_id: int | None, now: datetime) -> dict[str, Any]:
    """Set the suggested limit as the patient's individual threshold with the clinician's
    reason, and record the acceptance against that threshold change."""
    entered = {name: {"value": value, "unit": unit} for name, value in params.items()}
    threshold = set_threshold(conn, patient_id, rule_id, entered,
                              f"Accepted suggestion: {reason.strip()}"[:1000], who, staff_id)
    row = conn.cursor(row_factory=dict_row).execute(_INSERT_SQL, (
        patient_id, rule_id, "accepted", Jsonb(dict(params)), reason.strip(), threshold["id"],
        staff_id, who, now, None)).fetchone()
    assert row is not None
    return dict(row)


def dismiss_suggestion(conn: psycopg.Connection, patient_id: int, rule_id: str,
                       params: Mapping[str, float], reason: str, who: str,
                       staff_id: int | None, now: datetime) -> dict[str, Any]:
    """Record that the clinician keeps the current threshold; quiet for QUIET_DAYS days."""
    row = conn.cursor(row_factory=dict_row).execute(_INSERT_SQL, (
        patient_id, rule_id, "dismissed", Jsonb(dict(params)), reason.strip(), None, staff_id,
        who, now, now + timedelta(days=QUIET_DAYS))).fetchone()
    assert row is not None
    return dict(row)
