"""Adherence in SQL for the caseload and the team statistics: telehub.care.adherence's."""

from __future__ import annotations

from telehub.care.adherence import (
    CAPPED_RECEIVED,
    SERVICE_ZONE,
    daily_readings,
    expected_readings,
    monitored_from,
    planned_per_day,
    received_readings,
)

__all__ = ["CAPPED_RECEIVED", "SERVICE_ZONE", "daily_readings", "expected_readings",
           "monitored_from", "planned_per_day", "received_readings"]
