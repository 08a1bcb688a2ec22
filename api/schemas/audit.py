"""Models of the audit-log route."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api.schemas.common import _Out


class AuditOut(_Out):
    """Who read or changed which patient's record, when, from where."""

    id: int
    at: datetime
    staff_id: int | None
    actor: str
    action: str
    resource: str
    patient_id: int | None
    detail: dict[str, Any]
    client_addr: str | None

