"""Models of the risk-tier routes."""

from __future__ import annotations

from datetime import date, datetime

from api.schemas.common import _Out


class RiskScoreOut(_Out):
    """One imported risk score."""

    score: float
    tier: str
    scored_on: date
    imported_at: datetime
    imported_by: str

