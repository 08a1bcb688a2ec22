"""Hospital episodes as the dashboard reads them: emergency admissions and A&E attendances,
discharges, post-admission reviews, the admissions import and the follow-ups after discharge."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict

from dashboard.client.care import ImportResult
from dashboard.client.transport import Transport, iso


class _In(BaseModel):
    """The fields the dashboard shows; unknown ones are ignored, so the API may grow."""

    model_config = ConfigDict(extra="ignore", frozen=True)

class Episode(_In):
    """An emergency admission or A&E attendance, with its review."""

    id: int
    patient_id: int
    kind: str
    started_on: date
    discharged_on: date | None = None
    hospital: str | None = None
    reason: str | None = None
    source: str = "manual"
    recorded_by: str = ""
    avoidable: str | None = None
    would_have_helped: str | None = None
    reviewed_by: str | None = None
    alerts_before: int = 0


class FollowUp(_In):
    """A task after discharge."""

    id: int
    patient_id: int
    display_id: str
    episode_id: int | None = None
    title: str
    due_on: date
    done_at: datetime | None = None
    done_by: str | None = None
    note: str | None = None


class EpisodeCalls(Transport):
    """Admissions and A&E attendances, their reviews, and the follow-ups after discharge."""

    def admissions(self, patient_id: int) -> list[Episode]:
        """Emergency admissions and A&E attendances, with reviews."""
        return self._list(f"/patients/{patient_id}/admissions", Episode)

    def add_admission(self, patient_id: int, *, kind: str, started_on: date,
                      discharged_on: date | None = None, hospital: str | None = None,
                      reason: str | None = None) -> Episode:
        """Record an emergency admission or A&E attendance by hand."""
        return self._post(f"/patients/{patient_id}/admissions", Episode, kind=kind,
                          started_on=iso(started_on), discharged_on=iso(discharged_on),
                          hospital=hospital or None, reason=reason or None)

    def discharge(self, episode_id: int, discharged_on: date,
                  follow_up_days: int = 2) -> Episode:
        """Record a discharge; a follow-up task falls due `follow_up_days` later."""
        return self._post(f"/admissions/{episode_id}/discharge", Episode,
                          discharged_on=iso(discharged_on), follow_up_days=follow_up_days)

    def review_admission(self, episode_id: int, avoidable: str,
                         would_have_helped: str | None = None) -> Episode:
        """The post-admission review: was it avoidable, what would have helped."""
        return self._post(f"/admissions/{episode_id}/review", Episode, avoidable=avoidable,
                          would_have_helped=would_have_helped or None)

    def import_admissions(self, csv_text: str) -> ImportResult:
        """Import admissions and A&E attendances
        (nhs_number,kind,started_on,discharged_on,hospital,reason)."""
        return ImportResult.model_validate(self._request(
            "POST", "/admissions/import", content=csv_text.encode(), content_type="text/csv"))

    def follow_ups(self, team_id: int, *, open_only: bool = True) -> list[FollowUp]:
        """Tasks after discharge for a team."""
        return self._list(f"/teams/{team_id}/follow-ups", FollowUp,
                          open=str(open_only).lower())

    def follow_up_done(self, task_id: int, note: str | None = None) -> None:
        """Close a follow-up task."""
        self._request("POST", f"/follow-ups/{task_id}/done", json={"note": note or None})
