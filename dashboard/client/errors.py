"""The API's refusals as classes a page can act on: `Unauthorized` (401: back to sign-in),
`ServiceUnavailable` (503 or no answer: a banner), `NotFound`, `Forbidden` and `Invalid`
(400/409/422 with the API's own words)."""

from __future__ import annotations

import httpx


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
