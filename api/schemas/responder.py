"""Models of the responder routes: the urgent queue, responder actions, telecare settings."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from api.schemas.alerts import AlertOut
from api.schemas.common import _In
from telehub.domain.codes import Outcome, ResponderAction


class ResponderActionIn(_In):
    """One responder action; `outcome` is required for `resolved`."""

    action: ResponderAction
    note: str | None = Field(None, max_length=2000)
    outcome: Outcome | None = None


class QueueContact(BaseModel):
    """A carer as the responder needs them."""

    name: str
    relationship: str
    phone: str | None
    next_of_kin: bool


class LatestVital(BaseModel):
    """The latest reading of one metric."""

    metric: str
    value: float
    unit: str
    time: datetime


class QueueItemOut(BaseModel):
    """An urgent alert with the minimum context to act (no NHS number, no history)."""

    alert: AlertOut
    display_id: str
    display_name: str                 # given name and family name, to greet the person
    address_line: str | None
    postcode: str | None
    phone: str | None
    key_safe_note: str | None
    access_note: str | None
    advance_decision: bool
    advance_decision_note: str | None
    spa_phone: str | None
    carers: list[QueueContact]
    latest_vitals: list[LatestVital]
    triggers: list[str]               # the care plan's "when to act", one line each
    telecare_event: str | None        # fall, pendant, smoke… when a telecare device raised it
    actions: list[str]                # responder actions recorded so far (event kinds)


class QueueActionOut(BaseModel):
    """The alert after the action, and the event recorded."""

    alert: AlertOut
    event_kind: str


class TelecareSettingsIn(_In):
    """How soon an unacknowledged telecare alert (fall, pendant, smoke…) escalates."""

    escalation_minutes: int = Field(ge=1, le=60)


class TelecareSettingsOut(BaseModel):
    """A team's telecare escalation window."""

    team_id: int
    escalation_minutes: int

