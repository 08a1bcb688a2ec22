"""Care-team records: the people around the patient (GP, coordinator, access, consent),
their carers and next of kin, and the teams a responder covers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row, tuple_row

from telehub.errors import NotFoundError

UPSERT_CARE_TEAM_SQL = """
INSERT INTO patient_care (patient_id, gp_name, gp_practice, gp_phone, coordinator_id,
    coordinator_role, spa_phone, key_safe_note, access_note, advance_decision,
    advance_decision_note, consent_monitoring, consent_sharing, consent_on, consent_taken_by,
    enrolment_conditions, enrolment_risk, enrolment_judgement, enrolment_note, updated_by)
VALUES (%(patient_id)s, %(gp_name)s, %(gp_practice)s, %(gp_phone)s, %(coordinator_id)s,
    %(coordinator_role)s, %(spa_phone)s, %(key_safe_note)s, %(access_note)s,
    %(advance_decision)s, %(advance_decision_note)s, %(consent_monitoring)s,
    %(consent_sharing)s, %(consent_on)s, %(consent_taken_by)s, %(enrolment_conditions)s,
    %(enrolment_risk)s, %(enrolment_judgement)s, %(enrolment_note)s, %(updated_by)s)
ON CONFLICT (patient_id) DO UPDATE SET gp_name = excluded.gp_name,
    gp_practice = excluded.gp_practice, gp_phone = excluded.gp_phone,
    coordinator_id = excluded.coordinator_id, coordinator_role = excluded.coordinator_role,
    spa_phone = excluded.spa_phone, key_safe_note = excluded.key_safe_note,
    access_note = excluded.access_note, advance_decision = excluded.advance_decision,
    advance_decision_note = excluded.advance_decision_note,
    consent_monitoring = excluded.consent_monitoring, consent_sharing = excluded.consent_sharing,
    consent_on = excluded.consent_on, consent_taken_by = excluded.consent_taken_by,
    enrolment_conditions = excluded.enrolment_conditions,
    enrolment_risk = excluded.enrolment_risk, enrolment_judgement = excluded.enrolment_judgement,
    enrolment_note = excluded.enrolment_note, updated_by = excluded.updated_by,
    updated_at = now()
"""
CONTACT_COLUMNS = ("id, patient_id, name, relationship, phone, email, next_of_kin, "
                   "notify_alerts, created_at, removed_at")
ADD_CONTACT_SQL = f"""
INSERT INTO patient_contacts (patient_id, name, relationship, phone, email, next_of_kin,
                              notify_alerts)
VALUES (%(p)s, %(name)s, %(relationship)s, %(phone)s, %(email)s, %(next_of_kin)s,
        %(notify_alerts)s)
RETURNING {CONTACT_COLUMNS}
"""  # noqa: S608 (constant columns)
UPDATE_CONTACT_SQL = f"""
UPDATE patient_contacts SET name = %(name)s, relationship = %(relationship)s, phone = %(phone)s,
       email = %(email)s, next_of_kin = %(next_of_kin)s, notify_alerts = %(notify_alerts)s
WHERE id = %(id)s AND patient_id = %(p)s AND removed_at IS NULL
RETURNING {CONTACT_COLUMNS}
"""  # noqa: S608 (constant columns)
REMOVE_CONTACT_SQL = f"""
UPDATE patient_contacts SET removed_at = now()
WHERE id = %s AND patient_id = %s AND removed_at IS NULL
RETURNING {CONTACT_COLUMNS}
"""  # noqa: S608 (constant columns)
COVER_SQL = """
INSERT INTO responder_coverage (staff_id, team_id) VALUES (%s, %s) ON CONFLICT DO NOTHING
"""


def save_care_team(conn: psycopg.Connection[Any], patient_id: int, fields: Mapping[str, Any],
                   updated_by: str) -> None:
    """Insert or replace the patient's care-team record (`fields` name every column)."""
    conn.execute(UPSERT_CARE_TEAM_SQL, {**fields, "patient_id": patient_id,
                                        "updated_by": updated_by})


def add_contact(conn: psycopg.Connection[Any], patient_id: int,
                contact: Mapping[str, Any]) -> dict[str, Any]:
    """Add a carer or next of kin (name, relationship, phone, email, next_of_kin,
    notify_alerts); the stored row."""
    row = conn.cursor(row_factory=dict_row).execute(
        ADD_CONTACT_SQL, {**contact, "p": patient_id}).fetchone()
    assert row is not None
    return row


def update_contact(conn: psycopg.Connection[Any], patient_id: int, contact_id: int,
                   contact: Mapping[str, Any]) -> dict[str, Any] | None:
    """Replace a current contact's details; None when there is no such current contact."""
    return conn.cursor(row_factory=dict_row).execute(
        UPDATE_CONTACT_SQL, {**contact, "id": contact_id, "p": patient_id}).fetchone()


def remove_contact(conn: psycopg.Connection[Any], patient_id: int,
                   contact_id: int) -> dict[str, Any] | None:
    """Mark a contact removed (the row stays as history); None when there is none current."""
    return conn.cursor(row_factory=dict_row).execute(
        REMOVE_CONTACT_SQL, (contact_id, patient_id)).fetchone()


def cover_team(conn: psycopg.Connection[Any], staff_id: int, team_id: int) -> None:
    """Let a responder cover a team's alerts."""
    conn.execute(COVER_SQL, (staff_id, team_id))


# The per-team alerting settings a team lead may change (columns of `teams`).
TEAM_SETTINGS = frozenset({"telecare_escalation_minutes", "red_reminder_minutes"})


class NoSuchTeamError(NotFoundError):
    """The team id names no team (the API answers 404)."""


def team_setting(conn: psycopg.Connection[Any], team_id: int, column: str) -> Any:
    """A team's alerting setting (one of `TEAM_SETTINGS`)."""
    query = sql.SQL("SELECT {} FROM teams WHERE id = %s").format(_column(column))
    return _value(conn.cursor(row_factory=tuple_row).execute(query, (team_id,)).fetchone())


def set_team_setting(conn: psycopg.Connection[Any], team_id: int, column: str,
                     value: Any) -> Any:
    """Change a team's alerting setting; the value stored (the schema's CHECKs apply)."""
    query = sql.SQL("UPDATE teams SET {col} = %s WHERE id = %s RETURNING {col}").format(
        col=_column(column))
    return _value(conn.cursor(row_factory=tuple_row).execute(
        query, (value, team_id)).fetchone())


def _column(column: str) -> sql.Identifier:
    if column not in TEAM_SETTINGS:
        raise ValueError(f"{column!r} is not a team setting")
    return sql.Identifier(column)


def _value(row: tuple[Any, ...] | None) -> Any:
    if row is None:
        raise NoSuchTeamError("No such team.")
    return row[0]
