"""Models of the threshold routes: effective and individual rule thresholds."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.schemas.common import SpanDate, SpanTime
from telehub.domain.codes import Severity


class ParamValue(BaseModel):
    """A parameter value with its unit: a glucose limit is never a bare number."""

    model_config = ConfigDict(extra="forbid")

    value: float | bool | str | None = Field(description="The number, or null to switch a "
                                             "limit off.")
    unit: str | None = Field(None, max_length=16, description="e.g. mmol/L or mg/dL; null for "
                             "a count, hours, days or a switch.")


class ThresholdOut(BaseModel):
    """A rule as it applies to one patient: catalogue defaults, any override, the effect."""

    rule_id: str
    params: dict[str, Any] = Field(description="The effective parameters, in the unit the "
                                   "rule compares in (see `units`).")
    units: dict[str, str | None] = Field(
        {}, description="The unit each parameter is compared in (null: a plain number).")
    shown: str = Field("", description="The effective parameters in words with their units, "
                       "glucose in mmol/L first: 'below 3.5 mmol/L (63 mg/dL)'.")
    default_shown: str = ""
    override_shown: str | None = None
    entry: dict[str, ParamValue] = Field(
        {}, description="The effective parameters as staff enter them (glucose in mmol/L).")
    default: dict[str, Any] = {}
    individual: bool = Field(False, description="An individual override is in force.")
    override: dict[str, Any] | None = Field(None, description="The override's parameters.")
    episode: str | None = None
    severity: Severity | None = None
    applies: bool = True
    reason: str | None = None
    set_by_name: str | None = None
    set_at: datetime | None = None
    until: datetime | None = Field(None, description="The end of a temporary override in "
                                   "force; from then on `after` applies by itself.")
    after: dict[str, Any] | None = Field(None, description="While a temporary override lasts: "
                                         "the permanent override beneath it (null: the "
                                         "catalogue default).")


class ThresholdsOut(BaseModel):
    """Every rule that applies to a patient."""

    patient_id: int
    thresholds: list[ThresholdOut]


class ThresholdIn(BaseModel):
    """An individual threshold for one rule, with the clinical reason."""

    model_config = ConfigDict(extra="forbid")

    rule_id: str = Field(min_length=1, max_length=64)
    params: dict[str, ParamValue | bool | float | str | None] = Field(
        description="Each parameter with its unit: {\"below\": {\"value\": 3.5, \"unit\": "
        "\"mmol/L\"}} or \"3.5 mmol/L\"; a glucose limit without a unit, in another unit or "
        "implausible for its unit is refused (422). Counts, hours and switches take a plain "
        "value.")

    def values(self) -> dict[str, Any]:
        """The parameters as the threshold rules read them ({'value', 'unit'} or the value)."""
        return {k: v.model_dump() if isinstance(v, ParamValue) else v
                for k, v in self.params.items()}
    reason: str = Field(min_length=3, max_length=1000)
    until: SpanTime | SpanDate | None = Field(
        None, description="Temporary: in force until this time (with its zone), or through "
        "this day (local); at most 90 days. Omitted: permanent (and any temporary override "
        "of the rule ends).")

    @field_validator("until", mode="before")
    @classmethod
    def _day_or_time(cls, value: Any) -> Any:
        """"2026-12-17" is a day (through that local day), never midnight at its start."""
        if isinstance(value, str) and len(value.strip()) == 10:
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                return value
        return value


class ThresholdHistoryOut(BaseModel):
    """One override ever set for a patient: who, why, when, until when, and its state."""

    id: int
    rule_id: str
    params: dict[str, Any]
    reason: str
    set_by: int | None
    set_by_name: str
    set_at: datetime
    ends_at: datetime | None
    superseded_at: datetime | None
    state: str = Field(description="in-force, ended (a temporary one past its end) or "
                       "superseded")

