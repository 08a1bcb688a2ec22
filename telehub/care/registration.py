"""Registering teams, patients and devices: shared by the CLI, the seeder, the API and tests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from telehub.domain import clock
from telehub.domain.codes import CONDITIONS, DEFAULT_SCHEDULES, DEVICE_KINDS, Role
from telehub.domain.nhs_number import is_valid_nhs_number, normalise_nhs_number
from telehub.errors import DuplicatePatientError, NotFoundError, ValidationError
from telehub.mqtt.topics import DEVICE_ID_PATTERN


def add_team(conn: psycopg.Connection, code: str, name: str | None = None) -> int:
    """Create a team; its code is what alert topics carry (lower-case, dashes)."""
    code = code.strip().lower()
    try:
        row = _tuples(conn).execute("INSERT INTO teams (code, name) VALUES (%s, %s) RETURNING id",
                           (code, name or code)).fetchone()
    except psycopg.errors.UniqueViolation as err:
        raise ValidationError("duplicate-team", f"A team called '{code}' already exists.") from err
    except psycopg.errors.CheckViolation as err:
        raise ValidationError("bad-team-code", "A team code is 2–40 lower-case letters, "
                              "digits or dashes.") from err
    assert row is not None
    return int(row[0])


def team_id(conn: psycopg.Connection, code_or_name: str) -> int:
    """The id of the team with this code or name."""
    row = _tuples(conn).execute("SELECT id FROM teams WHERE code = %s OR name = %s",
                       (code_or_name.strip().lower(), code_or_name)).fetchone()
    if row is None:
        raise NotFoundError(f"No team called '{code_or_name}'.")
    return int(row[0])


def parse_conditions(conditions: Iterable[str]) -> list[str]:
    """Normalise and check a list of conditions."""
    out = []
    for c in conditions:
        name = c.strip().lower()
        if not name:
            continue
        if name not in CONDITIONS:
            raise ValidationError("unknown-condition", f"'{c}' is not a condition Telehub "
                                  f"monitors ({', '.join(CONDITIONS)}).")
        out.append(name)
    return sorted(set(out))


def default_care_plan(conditions: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The measurement schedule the conditions imply (a nurse may change it)."""
    plan: dict[str, dict[str, Any]] = {}
    for condition in conditions:
        for metric, slot in DEFAULT_SCHEDULES.get(condition, {}).items():
            if plan.get(metric, {}).get("per_day", 0) < slot["per_day"]:
                plan[metric] = dict(slot)
    return plan


# ON CONFLICT makes a second registration of an NHS number a quiet no-op instead of a
# unique violation: PostgreSQL logs a violated key (`Key (nhs_number)=(…) already exists`)
# in its server log, and an NHS number must never reach a log. Concurrent registrations
# of one number wait on each other in the unique index, so exactly one inserts.
INSERT_PATIENT_SQL = """
INSERT INTO patients (nhs_number, given_name, family_name, birth_date, team_id, conditions,
                      care_plan, address_line, postcode, phone, named_nurse_id, enrolled_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (nhs_number) DO NOTHING
RETURNING id
"""
EXISTING_PATIENT_SQL = "SELECT id, team_id FROM patients WHERE nhs_number = %s"

# What the patients table's checks hold (0001_core.sql); checked here first because a
# refused row is logged whole by PostgreSQL ("Failing row contains (…)"), NHS number and all.
NAME_MAX = 120
EARLIEST_BIRTH = date(1900, 1, 2)


def add_patient(conn: psycopg.Connection, *, nhs_number: str, given_name: str, family_name: str,
                birth_date: date, team: int | str, conditions: Iterable[str] = (),
                care_plan: dict[str, Any] | None = None, address_line: str | None = None,
                postcode: str | None = None, phone: str | None = None,
                named_nurse_id: int | None = None) -> int:
    """Register a patient; returns patients.id. An NHS number already registered raises
    DuplicatePatientError (naming the existing record's team) without a database error."""
    nhs = normalise_nhs_number(nhs_number)
    if not is_valid_nhs_number(nhs):
        raise ValidationError("bad-nhs-number", f"'{nhs_number}' is not a valid NHS number "
                              "(ten digits with a modulus-11 check digit).")
    _check_patient_values(given_name, family_name, birth_date)
    conds = parse_conditions(conditions)
    tid = team if isinstance(team, int) else team_id(conn, team)
    from psycopg.types.json import Jsonb

    cur = _tuples(conn)
    row = cur.execute(INSERT_PATIENT_SQL, (
        nhs, given_name, family_name, birth_date, tid, conds,
        Jsonb(care_plan if care_plan is not None else default_care_plan(conds)),
        address_line, postcode, phone, named_nurse_id, clock.now())).fetchone()
    if row is None:
        existing = cur.execute(EXISTING_PATIENT_SQL, (nhs,)).fetchone()
        assert existing is not None  # the conflict was on this number, and rows are kept
        raise DuplicatePatientError(int(existing[0]), int(existing[1]))
    return int(row[0])


def _check_patient_values(given_name: str, family_name: str, birth_date: date) -> None:
    """Refuse what the patients table would refuse, before the database sees the row."""
    for label, name in (("given name", given_name), ("family name", family_name)):
        if not 1 <= len(name) <= NAME_MAX:
            raise ValidationError("bad-name", f"A {label} is 1–{NAME_MAX} characters.")
    if not EARLIEST_BIRTH <= birth_date <= clock.today():
        raise ValidationError("bad-birth-date", "A birth date is after 1 January 1900 and "
                              "not in the future.")


def patient_id(conn: psycopg.Connection, nhs_number: str) -> int:
    """The id of the patient with this NHS number."""
    row = _tuples(conn).execute("SELECT id FROM patients WHERE nhs_number = %s",
                       (normalise_nhs_number(nhs_number),)).fetchone()
    if row is None:
        raise NotFoundError("No patient with that NHS number is registered.")
    return int(row[0])


def add_device(conn: psycopg.Connection, *, device_id: str, kind: str,
               patient: int | str | None = None, serial: str | None = None) -> int:
    """Register a device, optionally linked to a patient (id or NHS number); returns devices.id."""
    if not DEVICE_ID_PATTERN.fullmatch(device_id):
        raise ValidationError("bad-device-id", "A device id is 2–64 letters, digits, '.', '_' "
                              "or '-', starting with a letter or digit.")
    if kind not in DEVICE_KINDS:
        raise ValidationError("bad-device-kind", f"Device kind must be one of "
                              f"{', '.join(DEVICE_KINDS)}.")
    pid = patient_id(conn, patient) if isinstance(patient, str) else patient
    try:
        row = _tuples(conn).execute(
            "INSERT INTO devices (device_id, kind, patient_id, serial) VALUES (%s, %s, %s, %s) "
            "RETURNING id", (device_id, kind, pid, serial),
        ).fetchone()
    except psycopg.errors.UniqueViolation as err:
        raise ValidationError("duplicate-device",
                              f"A device '{device_id}' is already registered.") from err
    assert row is not None
    return int(row[0])


def add_staff(conn: psycopg.Connection, *, username: str, display_name: str, role: str,
              team: int | str | None = None, password: str | None = None) -> int:
    """Create a staff account (password hashed with argon2id); returns staff.id."""
    from telehub.passwords import hash_password

    if role not in set(Role):
        raise ValidationError("bad-role", f"Role must be one of {', '.join(Role)}.")
    if role in ("nurse", "matron") and team is None:
        raise ValidationError("team-required", f"A {role} belongs to a team: give --team.")
    tid = team_id(conn, team) if isinstance(team, str) else team
    if password is not None and len(password) < 10:
        raise ValidationError("weak-password", "A password needs at least 10 characters.")
    try:
        row = _tuples(conn).execute(
            "INSERT INTO staff (username, display_name, role, team_id, password_hash) "
            "VALUES (%s, %s, %s, %s, %s) RETURNING id",
            (username.strip().lower(), display_name, role, tid,
             hash_password(password) if password else None),
        ).fetchone()
    except psycopg.errors.UniqueViolation as err:
        raise ValidationError("duplicate-user", f"A user '{username}' already exists.") from err
    except psycopg.errors.CheckViolation as err:
        raise ValidationError("bad-username", "A username is 2–64 lower-case letters, digits, "
                              "'.', '_' or '-'.") from err
    assert row is not None
    return int(row[0])


def list_devices(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Every device with its patient's display id and status."""
    cur = conn.cursor(row_factory=psycopg.rows.dict_row)
    return cur.execute(
        "SELECT d.device_id, d.kind::text AS kind, d.active, p.display_id AS patient, "
        "d.online, d.last_seen_at, d.battery, d.last_seq "
        "FROM devices d LEFT JOIN patients p ON p.id = d.patient_id ORDER BY d.device_id"
    ).fetchall()


def _tuples(conn: psycopg.Connection[Any]) -> psycopg.Cursor[tuple[Any, ...]]:
    """A cursor returning tuples, whatever row factory the caller's connection has."""
    return conn.cursor(row_factory=tuple_row)
