"""Models of the patient routes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import _Out
from telehub.domain.codes import PatientStatus


class PatientOut(_Out):
    """A patient's full record (clinical staff and admins)."""

    id: int
    display_id: str
    nhs_number: str
    given_name: str
    family_name: str
    birth_date: date
    address_line: str | None
    postcode: str | None
    phone: str | None
    team_id: int
    named_nurse_id: int | None
    conditions: list[str]
    status: PatientStatus
    paused_until: datetime | None
    care_plan: dict[str, Any]
    on_home_oxygen: bool
    enrolled_at: datetime
    discharged_at: datetime | None
    updated_at: datetime


class PatientContextOut(_Out):
    """The minimum a telecare responder needs for a visit."""

    id: int
    display_id: str
    address_line: str | None
    postcode: str | None
    phone: str | None = Field(None, description="The key contact number.")


class PatientCreate(BaseModel):
    """Register a patient. `team_id` defaults to the caller's team."""

    model_config = ConfigDict(extra="forbid")

    nhs_number: str = Field(examples=["9434765919"])
    given_name: str = Field(min_length=1, max_length=120)
    family_name: str = Field(min_length=1, max_length=120)
    birth_date: date
    team_id: int | None = None
    named_nurse_id: int | None = None
    conditions: list[str] = []
    care_plan: dict[str, Any] | None = Field(
        None, description='e.g. {"weight": {"per_day": 1, "window": "morning"}}; '
                          "default from the conditions.")
    address_line: str | None = Field(None, max_length=300)
    postcode: str | None = Field(None, max_length=10)
    phone: str | None = Field(None, max_length=40)
    on_home_oxygen: bool = False


class PatientUpdate(BaseModel):
    """Change some of a patient's details; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    given_name: str | None = Field(None, min_length=1, max_length=120)
    family_name: str | None = Field(None, min_length=1, max_length=120)
    address_line: str | None = Field(None, max_length=300)
    postcode: str | None = Field(None, max_length=10)
    phone: str | None = Field(None, max_length=40)
    named_nurse_id: int | None = None
    conditions: list[str] | None = None
    care_plan: dict[str, Any] | None = None
    on_home_oxygen: bool | None = None
    status: Literal["active", "paused", "in-hospital"] | None = Field(
        None, description="Discharge has its own route.")
    paused_until: datetime | None = None


class DischargeIn(BaseModel):
    """Why a patient leaves monitoring (history is kept)."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, max_length=1000)

