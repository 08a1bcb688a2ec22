"""Models of the threshold routes: effective and individual rule thresholds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from telehub.domain.codes import Severity


class ThresholdOut(BaseModel):
    """A rule as it applies to one patient: catalogue defaults, any override, the effect."""

    rule_id: str
    params: dict[str, Any] = Field(description="The effective parameters.")
    default: dict[str, Any] = {}
    individual: bool = Field(False, description="An individual override is in force.")
    override: dict[str, Any] | None = Field(None, description="The override's parameters.")
    episode: str | None = None
    severity: Severity | None = None
    applies: bool = True
    reason: str | None = None
    set_by_name: str | None = None
    set_at: datetime | None = None


class ThresholdsOut(BaseModel):
    """Every rule that applies to a patient."""

    patient_id: int
    thresholds: list[ThresholdOut]


class ThresholdIn(BaseModel):
    """An individual threshold for one rule, with the clinical reason."""

    model_config = ConfigDict(extra="forbid")

    rule_id: str = Field(min_length=1, max_length=64)
    params: dict[str, Any]
    reason: str = Field(min_length=3, max_length=1000)

