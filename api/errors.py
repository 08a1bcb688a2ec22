"""Every error the API returns is RFC 9457 problem details, except under `/fhir`, where it is a
FHIR OperationOutcome (`application/fhir+json`); this module maps errors to them."""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.render.operation_outcome import Issue, issue_type, operation_outcome
from telehub.errors import NotFoundError, TelehubError, ValidationError

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
FHIR_JSON = "application/fhir+json"
# Requests under this path are FHIR interactions: their errors are OperationOutcomes.
FHIR_PATH = "/fhir"


def is_fhir_path(path: str) -> bool:
    """True for `/fhir` and anything under it."""
    return path == FHIR_PATH or path.startswith(FHIR_PATH + "/")


class ApiError(Exception):
    """An error with an HTTP status, a machine-readable code and a sentence for people."""

    def __init__(self, status: int, detail: str, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code
        self.headers = headers


def not_found(what: str = "record") -> ApiError:
    """The 404 for a record that does not exist or is not the caller's to see."""
    return ApiError(404, f"No such {what}.", "not-found")


def problem(status: int, detail: str | None = None, *, code: str | None = None,
            instance: str | None = None, errors: list[dict[str, Any]] | None = None,
            headers: dict[str, str] | None = None) -> JSONResponse:
    """A problem-details response, or an OperationOutcome when `instance` is under /fhir."""
    if instance is not None and is_fhir_path(instance):
        return outcome_response(status, detail, code=code, errors=errors, headers=headers)
    body: dict[str, Any] = {"type": "about:blank", "title": HTTPStatus(status).phrase,
                            "status": status}
    if detail is not None:
        body["detail"] = detail
    if code is not None:
        body["code"] = code
    if instance is not None:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def outcome_body(status: int, detail: str | None, *, code: str | None = None,
                 errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The OperationOutcome telling an HTTP error: one issue, or one per invalid field."""
    kind = issue_type(status)
    severity = "fatal" if status >= 500 else "error"
    text = detail or HTTPStatus(status).phrase
    if errors:
        return operation_outcome(*(Issue(f"{'.'.join(e['loc'])}: {e['msg']}", code=kind,
                                         severity=severity, reason=code,
                                         expression=(e["loc"][-1],) if e["loc"] else ())
                                   for e in errors))
    return operation_outcome(Issue(text, code=kind, severity=severity, reason=code))


def outcome_response(status: int, detail: str | None, *, code: str | None = None,
                     errors: list[dict[str, Any]] | None = None,
                     headers: dict[str, str] | None = None) -> JSONResponse:
    """An OperationOutcome response with `status`."""
    return JSONResponse(outcome_body(status, detail, code=code, errors=errors),
                        status_code=status, media_type=FHIR_JSON, headers=headers)


def error_bytes(path: str, status: int, detail: str, code: str) -> tuple[bytes, bytes]:
    """(body, content type) of an error a middleware answers before any route runs."""
    if is_fhir_path(path):
        return json.dumps(outcome_body(status, detail, code=code)).encode(), FHIR_JSON.encode()
    return json.dumps({"type": "about:blank", "title": HTTPStatus(status).phrase,
                       "status": status, "detail": detail, "code": code}).encode(), \
        PROBLEM_JSON.encode()


def _field_errors(err: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for e in err.errors():
        out.append({"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")),
                    "type": str(e.get("type", ""))})
    return out


def install_handlers(app: FastAPI) -> None:
    """Register the handlers that turn exceptions into problem details."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, err: ApiError) -> JSONResponse:
        return problem(err.status, err.detail, code=err.code, instance=request.url.path,
                       headers=err.headers)

    @app.exception_handler(ValidationError)
    async def _domain_invalid(request: Request, err: ValidationError) -> JSONResponse:
        return problem(422, err.message, code=err.code, instance=request.url.path)

    @app.exception_handler(NotFoundError)
    async def _domain_missing(request: Request, err: NotFoundError) -> JSONResponse:
        return problem(404, str(err) or "No such record.", code="not-found",
                       instance=request.url.path)

    @app.exception_handler(TelehubError)
    async def _domain_other(request: Request, err: TelehubError) -> JSONResponse:
        return problem(400, str(err), code="refused", instance=request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, err: RequestValidationError) -> JSONResponse:
        errors = _field_errors(err)
        detail = "invalid request"
        if errors:
            where = ".".join(errors[0]["loc"])
            detail = f"{where}: {errors[0]['msg']}" if where else str(errors[0]["msg"])
        return problem(422, detail, code="invalid-request", instance=request.url.path,
                       errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, err: StarletteHTTPException) -> JSONResponse:
        return problem(err.status_code, str(err.detail) if err.detail else None,
                       instance=request.url.path, headers=getattr(err, "headers", None))

    @app.exception_handler(psycopg.DataError)
    async def _bad_value(request: Request, err: psycopg.DataError) -> JSONResponse:
        # Values the schema admits but PostgreSQL cannot hold: NUL characters, ids past
        # bigint, impossible dates.
        return problem(422, "A value is out of range or contains characters that cannot be "
                       "stored (e.g. NUL).", code="invalid-value", instance=request.url.path)

    @app.exception_handler(PoolTimeout)
    async def _no_db(request: Request, err: PoolTimeout) -> JSONResponse:
        logger.warning("database unavailable for %s %s", request.method, request.url.path)
        return problem(503, "The database is not reachable; try again shortly.",
                       code="database-unavailable", instance=request.url.path,
                       headers={"Retry-After": "5"})

    @app.exception_handler(psycopg.OperationalError)
    async def _db_gone(request: Request, err: psycopg.OperationalError) -> JSONResponse:
        logger.warning("database error for %s %s: %s", request.method, request.url.path,
                       type(err).__name__)
        return problem(503, "The database is not reachable; try again shortly.",
                       code="database-unavailable", instance=request.url.path,
                       headers={"Retry-After": "5"})
