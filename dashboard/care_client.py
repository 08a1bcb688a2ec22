"""The care-coordination half of the API client: people around the patient, care plan,
risk tiers, the responder queue, hospital episodes, outcomes and the MDT list.

`ApiClient` (in `dashboard.client`) inherits these; they use its token and error mapping.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter

from dashboard.care_models import (
    CarePatient,
    CarePlan,
    CareTeam,
    Contact,
    Episode,
    FollowUp,
    ImportResult,
    Outcomes,
    QueueItem,
    RiskScore,
    ScheduleItem,
)

M = TypeVar("M", bound=BaseModel)


def _many(model: type[M], body: Any) -> list[M]:
    items = body["items"] if isinstance(body, dict) and "items" in body else body
    return TypeAdapter(list[model]).validate_python(items or [])  # type: ignore[valid-type]


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


class CareEndpoints:
    """Care-coordination calls; the plumbing (`_request`, `_text`) is `ApiClient`'s."""

    def _request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                 json: Any = None, data: Mapping[str, str] | None = None,
                 content: bytes | None = None, content_type: str | None = None) -> Any:
        raise NotImplementedError

    def _text(self, path: str, *, accept: str, **params: Any) -> str:
        raise NotImplementedError

    # --- people around the patient ----------------------------------------------------------

    def care_team(self, patient_id: int) -> CareTeam:
        """GP, coordinator, single point of access, access notes, advance decision, consent."""
        return CareTeam.model_validate(self._request("GET", f"/patients/{patient_id}/care-team"))

    def set_care_team(self, patient_id: int, fields: Mapping[str, Any]) -> CareTeam:
        """Replace the care team record (every field: send the ones kept)."""
        body = {k: (_iso(v) if isinstance(v, date) else v) for k, v in fields.items()}
        return CareTeam.model_validate(
            self._request("PUT", f"/patients/{patient_id}/care-team", json=body))

    def contacts(self, patient_id: int) -> list[Contact]:
        """Carers and next of kin (current ones)."""
        return _many(Contact, self._request("GET", f"/patients/{patient_id}/contacts"))

    def add_contact(self, patient_id: int, *, name: str, relationship: str,
                    phone: str | None = None, email: str | None = None,
                    next_of_kin: bool = False, notify_alerts: bool = False) -> Contact:
        """Add a carer or next of kin."""
        return Contact.model_validate(self._request(
            "POST", f"/patients/{patient_id}/contacts",
            json={"name": name, "relationship": relationship, "phone": phone or None,
                  "email": email or None, "next_of_kin": next_of_kin,
                  "notify_alerts": notify_alerts}))

    def remove_contact(self, patient_id: int, contact_id: int) -> None:
        """Take a carer off the patient's record (kept in history)."""
        self._request("POST", f"/patients/{patient_id}/contacts/{contact_id}/remove")

    # --- care plan and risk -----------------------------------------------------------------

    def care_plan(self, patient_id: int) -> CarePlan:
        """Schedule, triggers with the patient's advice, review dates."""
        return CarePlan.model_validate(self._request("GET", f"/patients/{patient_id}/care-plan"))

    def set_advice(self, patient_id: int, advice: Mapping[str, str]) -> CarePlan:
        """Change the self-management advice of some triggers (empty text removes it)."""
        return CarePlan.model_validate(self._request(
            "PUT", f"/patients/{patient_id}/care-plan", json={"advice": dict(advice)}))

    def set_schedule(self, patient_id: int, schedule: Sequence[ScheduleItem]) -> CarePlan:
        """Replace the measurement schedule (metrics left out are no longer expected)."""
        return CarePlan.model_validate(self._request(
            "PUT", f"/patients/{patient_id}/care-plan",
            json={"schedule": [item.model_dump() for item in schedule]}))

    def record_review(self, patient_id: int, note: str | None = None,
                      next_due: date | None = None) -> CarePlan:
        """Record a care-plan review today; the next falls due in 3 months unless given."""
        return CarePlan.model_validate(self._request(
            "POST", f"/patients/{patient_id}/care-plan/reviews",
            json={"note": note or None, "next_due": _iso(next_due)}))

    def care_plan_html(self, patient_id: int) -> str:
        """The one-page printable plan the patient keeps."""
        return self._text(f"/patients/{patient_id}/care-plan.html", accept="text/html")

    def care_patients(self, team_id: int | None = None, tier: str | None = None,
                      sort: str | None = None) -> list[CarePatient]:
        """Risk tier and review date of every patient the caller may see."""
        return _many(CarePatient, self._request(
            "GET", "/care/patients", params={"team_id": team_id, "tier": tier, "sort": sort}))

    def risk_history(self, patient_id: int) -> list[RiskScore]:
        """The patient's imported risk scores, newest first."""
        return _many(RiskScore, self._request("GET", f"/patients/{patient_id}/risk"))

    def import_risk_tiers(self, csv_text: str) -> ImportResult:
        """Import a risk-stratification CSV (nhs_number,score,tier,date)."""
        return ImportResult.model_validate(self._request(
            "POST", "/risk-tiers", content=csv_text.encode(), content_type="text/csv"))

    # --- responders -------------------------------------------------------------------------

    def responder_queue(self) -> list[QueueItem]:
        """Urgent alerts across the teams the responder covers, with context to act."""
        return _many(QueueItem, self._request("GET", "/responder/queue"))

    def responder_action(self, alert_id: int, action: str, note: str | None = None,
                         outcome: str | None = None) -> None:
        """Record what the responder did (acknowledge, call logged, … resolved)."""
        self._request("POST", f"/responder/alerts/{alert_id}/actions",
                      json={"action": action, "note": note or None, "outcome": outcome})

    # --- hospital episodes ------------------------------------------------------------------

    def admissions(self, patient_id: int) -> list[Episode]:
        """Emergency admissions and A&E attendances, with reviews."""
        return _many(Episode, self._request("GET", f"/patients/{patient_id}/admissions"))

    def add_admission(self, patient_id: int, *, kind: str, started_on: date,
                      discharged_on: date | None = None, hospital: str | None = None,
                      reason: str | None = None) -> Episode:
        """Record an emergency admission or A&E attendance by hand."""
        return Episode.model_validate(self._request(
            "POST", f"/patients/{patient_id}/admissions",
            json={"kind": kind, "started_on": _iso(started_on),
                  "discharged_on": _iso(discharged_on), "hospital": hospital or None,
                  "reason": reason or None}))

    def discharge(self, episode_id: int, discharged_on: date,
                  follow_up_days: int = 2) -> Episode:
        """Record a discharge; a follow-up task falls due `follow_up_days` later."""
        return Episode.model_validate(self._request(
            "POST", f"/admissions/{episode_id}/discharge",
            json={"discharged_on": _iso(discharged_on), "follow_up_days": follow_up_days}))

    def review_admission(self, episode_id: int, avoidable: str,
                         would_have_helped: str | None = None) -> Episode:
        """The post-admission review: was it avoidable, what would have helped."""
        return Episode.model_validate(self._request(
            "POST", f"/admissions/{episode_id}/review",
            json={"avoidable": avoidable, "would_have_helped": would_have_helped or None}))

    def import_admissions(self, csv_text: str) -> ImportResult:
        """Import admissions and A&E attendances
        (nhs_number,kind,started_on,discharged_on,hospital,reason)."""
        return ImportResult.model_validate(self._request(
            "POST", "/admissions/import", content=csv_text.encode(), content_type="text/csv"))

    def follow_ups(self, team_id: int, *, open_only: bool = True) -> list[FollowUp]:
        """Tasks after discharge for a team."""
        return _many(FollowUp, self._request("GET", f"/teams/{team_id}/follow-ups",
                                             params={"open": str(open_only).lower()}))

    def follow_up_done(self, task_id: int, note: str | None = None) -> None:
        """Close a follow-up task."""
        self._request("POST", f"/follow-ups/{task_id}/done", json={"note": note or None})

    # --- team figures -----------------------------------------------------------------------

    def outcomes(self, team_id: int, start_month: str | None = None,
                 end_month: str | None = None) -> Outcomes:
        """Admissions and A&E per 1,000, readmissions, alerts before admission, response."""
        return Outcomes.model_validate(self._request(
            "GET", f"/teams/{team_id}/outcomes",
            params={"from": start_month, "to": end_month}))

    def mdt_csv(self, team_id: int, week_ending: date | None = None) -> str:
        """The weekly MDT review list as CSV."""
        return self._text(f"/teams/{team_id}/mdt.csv", accept="text/csv",
                          week_ending=_iso(week_ending))
