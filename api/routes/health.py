"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import logging

import psycopg
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout

from api.deps import State
from api.schemas.health import HealthOut, ReadyOut
from api.state import ApiState

logger = logging.getLogger(__name__)

router = APIRouter(tags=["operations"])

READY_TIMEOUT_S = 2.0  # a load balancer's probe must not hang on a dead database


def database_unavailable(state: ApiState) -> str | None:
    """Why the database does not answer a query now; None when it does."""
    try:
        with state.pool.connection(timeout=READY_TIMEOUT_S) as conn:
            conn.execute("SELECT 1").fetchone()
    except PoolTimeout:
        return f"no database connection within {READY_TIMEOUT_S:g} s"
    except psycopg.Error as err:
        return f"database error: {type(err).__name__}"
    return None


@router.get("/healthz", response_model=HealthOut, summary="The process is up")
def healthz() -> HealthOut:
    """Always 200 while the process serves HTTP."""
    return HealthOut()


@router.get("/readyz", response_model=ReadyOut, summary="The database answers",
            responses={503: {"model": ReadyOut, "description": "Not ready, with the reason"}})
def readyz(state: State) -> ReadyOut | JSONResponse:
    """200 when the database answers a query; 503 with the reason otherwise."""
    reason = database_unavailable(state)
    if reason is None:
        return ReadyOut(status="ready", database=True)
    logger.warning("not ready: %s", reason)
    body = ReadyOut(status="unavailable", database=False, reason=reason)
    return JSONResponse(body.model_dump(), status_code=503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {}}}})
def metrics(state: State) -> Response:
    """Request counts and latencies, sign-in refusals and whether the database answers, in
    the Prometheus text format."""
    state.observability.database_up.set(0 if database_unavailable(state) else 1)
    return Response(state.observability.exposition(),
                    media_type="text/plain; version=0.0.4; charset=utf-8")
