"""The FastAPI application: `create_app(settings)` builds it; the lifespan owns the DB pool."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api.errors import install_handlers
from api.middleware import RequestLimits, SecurityHeaders, UnexpectedErrors
from api.observability import Observability
from api.ratelimit import SlidingWindowLimiter
from api.routes import (
    admissions,
    alerts,
    audit,
    auth,
    before_after,
    care_plans,
    care_team,
    caseload,
    devices,
    fhir,
    fhir_upload,
    follow_ups,
    gateway_keys,
    health,
    ingest_http,
    outcomes,
    patients,
    readings,
    responder,
    risk,
    rule_performance,
    teams,
    telecare,
    thresholds,
)
from api.state import ApiState
from telehub.config import Settings
from telehub.db.pool import open_pool

logger = logging.getLogger(__name__)

DESCRIPTION = """Telehub's HTTP API: staff sign-in and roles, caseloads, patients, devices,
readings, thresholds, alerts, team statistics, audit and FHIR R4 export.

**Sign in** with `POST /auth/token` (the *Authorize* button): an opaque bearer token,
valid for `api.token_hours`. Integrations use a long-lived token from
`telehub users token`; gateways post readings to `POST /readings` as their device
(HTTP Basic: device id and MQTT password).

**Roles.** *nurse* and *matron*: their team's caseload, patients, readings, thresholds and
alerts (a matron also sees team statistics). *responder*: alerts routed to them (red,
escalated or assigned to them), acknowledge/escalate/notes, and the visit context of
those patients. *manager*: team statistics only, nothing identifiable. *admin*: every team,
devices and their credentials, the audit log. A record outside the caller's team is a 404.

Every read or change of a patient's record is written to the audit log. Errors are
RFC 9457 problem details (`application/problem+json`) with a machine-readable `code`;
under `/fhir` they are FHIR OperationOutcomes (`application/fhir+json`), the code in
`issue.details`. `GET /fhir/metadata` lists the FHIR interactions.
"""


def create_app(settings: Settings) -> FastAPI:
    """Build the API for `settings` (the database pool opens when the app starts)."""
    url = settings.require_database_url()
    observability = Observability()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # open(wait=False): the API starts even while the database is down, and /readyz says so.
        # jit off: the API's queries are many small index lookups, which PostgreSQL's
        # JIT compiles for longer than they run (see api/queries/caseload.py).
        # timeout 5 s: while no primary is reachable a request waits at most that long
        # for a connection, then answers 503 with Retry-After (api.errors).
        pool = open_pool(url, max_size=settings.db_pool_max, name="telehub-api", wait=False,
                         timeout=5.0, options="-c jit=off")
        state = app.state.telehub = ApiState(
            settings=settings, pool=pool, observability=observability,
            signin_limiter=SlidingWindowLimiter(settings.api.signin_attempts_per_minute, 60.0),
            address_limiter=SlidingWindowLimiter(10 * settings.api.signin_attempts_per_minute,
                                                 60.0),
        )
        logger.info("api ready on database pool %s", pool.name)
        try:
            yield
        finally:
            state.close()

    app = FastAPI(title="Telehub API", version="1", description=DESCRIPTION, lifespan=lifespan)
    install_handlers(app)
    app.add_middleware(UnexpectedErrors)
    app.add_middleware(RequestLimits, max_bytes=settings.api.max_request_bytes)
    observability.install(app)
    if settings.api.cors_origins:  # closed unless origins are configured
        app.add_middleware(CORSMiddleware, allow_origins=settings.api.cors_origins,
                           allow_methods=["GET", "POST", "PATCH", "PUT"],
                           allow_headers=["Authorization", "Content-Type"])
    # Added last, so outermost: refusals (413, 429, CORS preflight) carry the headers too.
    docs = frozenset(p for p in (app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url)
                     if p)
    app.add_middleware(SecurityHeaders, docs_paths=docs)
    for module in (health, auth, caseload, patients, devices, readings, thresholds, alerts,
                   fhir_upload, gateway_keys,
                   teams, audit, fhir, ingest_http, care_team, care_plans, risk, responder,
                   telecare, admissions, follow_ups, outcomes, rule_performance, before_after):
        app.include_router(module.router)
    return app
