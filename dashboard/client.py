"""A small typed client of the Telehub API, used by every dashboard page.

Errors are classes a page can act on: `Unauthorized` (401: back to sign-in),
`ServiceUnavailable` (503 or no answer: a banner), `NotFound`, `Forbidden` and
`Invalid` (400/422 with the API's own words).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from dashboard.care_client import CareEndpoints
from dashboard.models import (
    Alert,
    AlertDetail,
    AlertEvent,
    Caseload,
    Device,
    DeviceCredentials,
    Patient,
    Readings,
    RejectedMessage,
    SeqGap,
    Staff,
    Team,
    TeamStats,
    Threshold,
    Token,
)

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
# Long enough for a year of bucketed readings on a busy server; short enough that a
# nurse sees "service unavailable" rather than a page that never loads.
TIMEOUT_S = 15.0


class ApiError(Exception):
    """The API refused or failed a request; `str(err)` is a sentence for the user."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


class Unauthorized(ApiError):
    """No valid token (signed out, expired or revoked): sign in again."""


class Forbidden(ApiError):
    """The signed-in role may not do this."""


class NotFound(ApiError):
    """No such record, or not one the caller may see."""


class Invalid(ApiError):
    """The API rejected the input (400/409/422)."""


class ServiceUnavailable(ApiError):
    """The API did not answer, or said it cannot serve now (502/503/504)."""


def _problem_message(response: httpx.Response) -> tuple[str, str | None]:
    """The API's problem-details sentence and code, or a plain one."""
    try:
        body = response.json()
    except ValueError:
        return f"The service answered {response.status_code}.", None
    if not isinstance(body, dict):
        return f"The service answered {response.status_code}.", None
    message = body.get("detail") or body.get("title") or f"HTTP {response.status_code}"
    if isinstance(message, list):  # FastAPI's default validation errors
        message = "; ".join(str(item.get("msg", item)) for item in message
                            if isinstance(item, dict)) or str(message)
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        fields = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', [])[1:]) or 'input'}: {e.get('msg', '')}"
            for e in errors if isinstance(e, dict))
        if fields:
            message = f"{message} ({fields})"
    return str(message), body.get("code")


def error_for(response: httpx.Response) -> ApiError:
    """The ApiError subclass for a failed response."""
    message, code = _problem_message(response)
    status = response.status_code
    if status == 401:
        return Unauthorized(status, "Your session has ended. Please sign in again.", code)
    if status == 403:
        return Forbidden(status, message, code)
    if status == 404:
        return NotFound(status, message, code)
    if status in (400, 409, 422):
        return Invalid(status, message, code)
    if status in (502, 503, 504):
        return ServiceUnavailable(status, "The Telehub service is unavailable just now; "
                                  "readings are still being stored. Try again in a minute.", code)
    return ApiError(status, message, code)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _items(body: Any) -> list[Any]:
    """The items of a page ({"items": [...]}) or a plain list."""
    if isinstance(body, dict) and "items" in body:
        return list(body["items"])
    if isinstance(body, list):
        return body
    raise ApiError(200, "The service sent a list in a form the dashboard does not know.")


def new_http(base_url: str, *, timeout: float = TIMEOUT_S) -> httpx.Client:
    """A connection-pooling HTTP client for the API at `base_url`."""
    return httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout,
                        headers={"Accept": "application/json"})


class ApiClient(CareEndpoints):
    """The API as the signed-in member of staff sees it."""

    def __init__(self, http: httpx.Client, token: str | None = None) -> None:
        self._http = http
        self._token = token

    # --- plumbing ---------------------------------------------------------------------------

    def _send(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
              json: Any = None, data: Mapping[str, str] | None = None,
              content: bytes | None = None, content_type: str | None = None,
              accept: str | None = None) -> httpx.Response:
        """One request with the token; the successful response, or the matching ApiError."""
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        if content_type:
            headers["Content-Type"] = content_type
        if accept:
            headers["Accept"] = accept
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(method, path, params=clean, json=json, data=data,
                                          content=content, headers=headers)
        except httpx.TransportError as err:
            logger.warning("API %s %s failed: %s", method, path, type(err).__name__)
            raise ServiceUnavailable(0, "The Telehub service cannot be reached just now. "
                                     "Try again in a minute.") from err
        if response.is_success:
            return response
        logger.info("API %s %s answered %s", method, path, response.status_code)
        raise error_for(response)

    def _request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                 json: Any = None, data: Mapping[str, str] | None = None,
                 content: bytes | None = None, content_type: str | None = None) -> Any:
        response = self._send(method, path, params=params, json=json, data=data,
                              content=content, content_type=content_type)
        return response.json() if response.content else None

    def _text(self, path: str, *, accept: str, **params: Any) -> str:
        """A document the API serves as text (CSV, HTML)."""
        return self._send("GET", path, params=params, accept=accept).text

    def _get(self, path: str, model: type[M], **params: Any) -> M:
        return model.model_validate(self._request("GET", path, params=params))

    def _list(self, path: str, model: type[M], **params: Any) -> list[M]:
        body = self._request("GET", path, params=params)
        return TypeAdapter(list[model]).validate_python(_items(body))  # type: ignore[valid-type]

    # --- auth -------------------------------------------------------------------------------

    def sign_in(self, username: str, password: str) -> Token:
        """Exchange a username and password for a token (OAuth2 password form)."""
        body = self._request("POST", "/auth/token",
                             data={"username": username, "password": password})
        return Token.model_validate(body)

    def with_token(self, token: str) -> ApiClient:
        """The same API as the member of staff this token belongs to."""
        return ApiClient(self._http, token)

    def sign_out(self) -> None:
        """Revoke this token."""
        self._request("POST", "/auth/logout")

    def me(self) -> Staff:
        """Who the token belongs to."""
        return self._get("/me", Staff)

    # --- caseload and patients ----------------------------------------------------------------

    def caseload(self, nurse_id: int | None = None) -> Caseload:
        """The caller's team caseload, or one named nurse's, most urgent first."""
        return self._get("/caseload", Caseload, nurse_id=nurse_id)

    def patient(self, patient_id: int) -> Patient:
        """One patient's record."""
        return self._get(f"/patients/{patient_id}", Patient)

    def patients(self, *, page_size: int = 500) -> list[Patient]:
        """Every patient the caller may see (all pages)."""
        out: list[Patient] = []
        while True:
            body = self._request("GET", "/patients",
                                 params={"limit": page_size, "offset": len(out)})
            batch = TypeAdapter(list[Patient]).validate_python(_items(body))
            out.extend(batch)
            total = body.get("total", len(out)) if isinstance(body, dict) else len(out)
            if not batch or len(out) >= total:
                return out

    def readings(self, patient_id: int, *, start: datetime, end: datetime,
                 bucket: str = "raw", metric: str | None = None) -> Readings:
        """A patient's readings in [start, end), raw or bucketed by 'hour' or 'day'."""
        return self._get(f"/patients/{patient_id}/readings", Readings, metric=metric,
                         bucket=bucket, **{"from": _iso(start), "to": _iso(end)})

    def thresholds(self, patient_id: int) -> list[Threshold]:
        """Every rule as it applies to the patient."""
        body = self._request("GET", f"/patients/{patient_id}/thresholds")
        items = body.get("thresholds", []) if isinstance(body, dict) else body
        return TypeAdapter(list[Threshold]).validate_python(items)

    def set_threshold(self, patient_id: int, rule_id: str, params: dict[str, Any],
                      reason: str) -> None:
        """Save an individual threshold with the clinical reason."""
        self._request("PUT", f"/patients/{patient_id}/thresholds",
                      json={"rule_id": rule_id, "params": params, "reason": reason})

    # --- alerts ------------------------------------------------------------------------------

    def alerts(self, *, status: Sequence[str] = (), severity: Sequence[str] = (),
               patient_id: int | None = None, limit: int = 200) -> list[Alert]:
        """Alerts the caller may see, filtered (several statuses or severities may be given)."""
        return self._list("/alerts", Alert, status=list(status) or None,
                          severity=list(severity) or None, patient_id=patient_id, limit=limit)

    def alert_detail(self, alert_id: int) -> AlertDetail:
        """An alert, its history and the patient context for a visit."""
        return self._get(f"/alerts/{alert_id}", AlertDetail)

    def alert_events(self, alert_id: int) -> list[AlertEvent]:
        """An alert's history, oldest first."""
        return self._list(f"/alerts/{alert_id}/events", AlertEvent)

    def acknowledge(self, alert_id: int, note: str | None = None) -> None:
        """Acknowledge an alert: someone is looking at it."""
        self._request("POST", f"/alerts/{alert_id}/acknowledge", json={"note": note or None})

    def resolve(self, alert_id: int, outcome: str, note: str | None = None) -> None:
        """Close an alert with what was done about it."""
        self._request("POST", f"/alerts/{alert_id}/resolve",
                      json={"outcome": outcome, "note": note or None})

    def escalate(self, alert_id: int, note: str | None = None) -> None:
        """Escalate an alert to the matron and responders."""
        self._request("POST", f"/alerts/{alert_id}/escalate", json={"note": note or None})

    def add_note(self, alert_id: int, note: str) -> None:
        """Add a note to an alert's history."""
        self._request("POST", f"/alerts/{alert_id}/notes", json={"note": note})

    def assign(self, alert_id: int, assignee_id: int, note: str | None = None) -> None:
        """Give an alert to a member of staff."""
        self._request("POST", f"/alerts/{alert_id}/assign",
                      json={"assignee_id": assignee_id, "note": note or None})

    # --- devices -----------------------------------------------------------------------------

    def devices(self, patient_id: int | None = None) -> list[Device]:
        """Registered devices (all, or one patient's)."""
        return self._list("/devices", Device, patient_id=patient_id, limit=500)

    def add_device(self, device_id: str, kind: str, serial: str | None = None,
                   patient_id: int | None = None) -> Device:
        """Register a device, optionally given to a patient."""
        body = self._request("POST", "/devices", json={
            "device_id": device_id, "kind": kind, "serial": serial or None,
            "patient_id": patient_id})
        return Device.model_validate(body)

    def assign_device(self, device_id: str, patient_id: int) -> None:
        """Give a device to a patient."""
        self._request("POST", f"/devices/{device_id}/assign", json={"patient_id": patient_id})

    def unassign_device(self, device_id: str) -> None:
        """Take a device back from its patient."""
        self._request("POST", f"/devices/{device_id}/unassign")

    def device_gaps(self, device_id: str, limit: int = 100) -> list[SeqGap]:
        """Where the device's message counter skipped, newest first (admins)."""
        return self._list(f"/devices/{device_id}/gaps", SeqGap, limit=limit)

    def device_rejected(self, device_id: str, limit: int = 100) -> list[RejectedMessage]:
        """Messages the hub refused from this device, newest first, with reasons (admins)."""
        return self._list(f"/devices/{device_id}/rejected", RejectedMessage, limit=limit)

    def device_credentials(self, device_id: str) -> DeviceCredentials:
        """Generate MQTT credentials for a device (the password is shown once)."""
        return DeviceCredentials.model_validate(
            self._request("POST", f"/devices/{device_id}/credentials"))

    # --- team --------------------------------------------------------------------------------

    def teams(self) -> list[Team]:
        """Teams the caller works in (all of them for cross-team roles)."""
        return self._list("/teams", Team)

    def team_staff(self, team_id: int) -> list[Staff]:
        """Who an alert of this team can be given to."""
        return self._list(f"/teams/{team_id}/staff", Staff)

    def team_stats(self, team_id: int, *, start: datetime | None = None,
                   end: datetime | None = None) -> TeamStats:
        """A team's monitoring figures over a period (counts only)."""
        return self._get(f"/teams/{team_id}/stats", TeamStats,
                         **{"from": _iso(start), "to": _iso(end)})
