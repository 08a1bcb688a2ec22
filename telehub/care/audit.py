"""The audit log: who did what to which record, and when on the service clock; the one writer
the API and the command line share. Never give it a password, token or other secret."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from telehub.domain import clock

AUDIT_SQL = """
INSERT INTO audit_log (at, staff_id, actor, action, resource, patient_id, detail, client_addr)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
"""


def record_audit(conn: psycopg.Connection[Any], *, actor: str, action: str, resource: str,
                 staff_id: int | None = None, patient_id: int | None = None,
                 detail: dict[str, Any] | None = None, client_addr: str | None = None) -> None:
    """Write one audit row in the caller's transaction: `actor` did `action` to `resource`
    (the target named in `detail`, the patient in `patient_id` when there is one)."""
    conn.execute(AUDIT_SQL, (clock.now(), staff_id, actor, action, resource, patient_id,
                             Jsonb(detail or {}), client_addr))
