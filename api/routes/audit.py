"""`GET /audit`: who read or changed which patient's record (admins)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Admin, Conn, Pages
from api.schemas.audit import AuditOut
from api.schemas.common import Page, Problem, SpanTime

router = APIRouter(tags=["audit"], responses={401: {"model": Problem}, 403: {"model": Problem}})

AUDIT_SQL = """
SELECT id, at, staff_id, actor, action, resource, patient_id, detail, client_addr,
       count(*) OVER () AS total
FROM audit_log
WHERE (%(patient)s::bigint IS NULL OR patient_id = %(patient)s)
  AND (%(staff)s::bigint IS NULL OR staff_id = %(staff)s)
  AND (%(action)s::text IS NULL OR action = %(action)s)
  AND (%(since)s::timestamptz IS NULL OR at >= %(since)s)
ORDER BY at DESC, id DESC
LIMIT %(limit)s OFFSET %(offset)s
"""


@router.get("/audit", response_model=Page[AuditOut], summary="The audit log")
def audit_log(staff: Admin, conn: Conn, pages: Pages, patient_id: int | None = None,
              staff_id: int | None = None, action: str | None = None,
              since: SpanTime | None = None) -> Page[AuditOut]:
    """Every read or change of a patient's record: who, what, when, from where; newest first."""
    rows = conn.execute(AUDIT_SQL, {"patient": patient_id, "staff": staff_id, "action": action,
                                    "since": since, "limit": pages.limit,
                                    "offset": pages.offset}).fetchall()
    return Page[AuditOut](items=[AuditOut.model_validate(r) for r in rows],
                          total=rows[0]["total"] if rows else 0, limit=pages.limit,
                          offset=pages.offset)
