"""Reading patients' records: the columns a PatientOut wants, the filtered list, one patient."""

from __future__ import annotations

from typing import Any

from api.deps import DbConn
from api.errors import not_found

COLUMNS = """p.id, p.display_id, p.nhs_number, p.given_name, p.family_name, p.birth_date,
 p.address_line, p.postcode, p.phone, p.team_id, p.named_nurse_id, p.conditions,
 p.status::text AS status, p.paused_until, p.care_plan, p.on_home_oxygen, p.enrolled_at,
 p.discharged_at, p.updated_at"""

LIST_SQL = f"""
SELECT {COLUMNS}, count(*) OVER () AS total
FROM patients p
WHERE (%(team)s::bigint IS NULL OR p.team_id = %(team)s)
  AND (%(status)s::patient_status IS NULL OR p.status = %(status)s)
  AND (%(nurse)s::bigint IS NULL OR p.named_nurse_id = %(nurse)s)
  AND (%(q)s::text IS NULL OR p.display_id = upper(%(q)s) OR p.nhs_number = %(q)s
       OR (p.given_name || ' ' || p.family_name) ILIKE '%%' || %(q)s || '%%')
ORDER BY p.family_name, p.given_name, p.id
LIMIT %(limit)s OFFSET %(offset)s
"""  # noqa: S608 (constant columns; every value is bound)


def load_patient(conn: DbConn, patient_id: int) -> dict[str, Any]:
    """A patient's row as PatientOut wants it."""
    row = conn.execute(f"SELECT {COLUMNS} FROM patients p WHERE p.id = %s",  # noqa: S608
                       (patient_id,)).fetchone()
    if row is None:
        raise not_found("patient")
    return row
