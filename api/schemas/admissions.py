"""Models of the admission and follow-up routes."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import Field

from api.schemas.common import _In, _Out
from telehub.domain.codes import EpisodeKind


class Avoidable(StrEnum):
    """The post-admission review's answer to "was it avoidable?"."""

    YES = "yes"
    NO = "no"
    UNSURE = "unsure"


class EpisodeIn(_In):
    """An emergency admission or A&E attendance recorded by hand."""

    kind: EpisodeKind
    started_on: date
    discharged_on: date | None = None
    hospital: str | None = Field(None, max_length=200)
    reason: str | None = Field(None, max_length=1000)


class DischargeEpisodeIn(_In):
    """Discharge from hospital: a follow-up task falls due `follow_up_days` later."""

    discharged_on: date
    follow_up_days: int = Field(2, ge=0, le=30)


class EpisodeReviewIn(_In):
    """The post-admission review."""

    avoidable: Avoidable
    would_have_helped: str | None = Field(None, max_length=2000)


class EpisodeOut(_Out):
    """A hospital episode with its review."""

    id: int
    patient_id: int
    kind: EpisodeKind
    started_on: date
    discharged_on: date | None
    hospital: str | None
    reason: str | None
    source: str
    recorded_by: str
    avoidable: Avoidable | None
    would_have_helped: str | None
    reviewed_by: str | None
    reviewed_at: datetime | None
    alerts_before: int = 0            # amber/red alerts in the 14 days before it started


class FollowUpOut(_Out):
    """A task after discharge."""

    id: int
    patient_id: int
    display_id: str
    episode_id: int | None
    title: str
    due_on: date
    done_at: datetime | None
    done_by: str | None
    note: str | None


class FollowUpDoneIn(_In):
    """Close a follow-up task."""

    note: str | None = Field(None, max_length=2000)

