"""Care-coordination fixtures: the API (with the care routes) over real HTTP on the folder's
database, emptied before each test, and a small world of teams, staff and patients."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from fastapi import FastAPI

from api.app import create_app
from api.care_routes import router as care_router
from api.outcomes import router as outcomes_router
from api.responder_routes import router as responder_router
from telehub.config import Settings
from tests.api.conftest import (  # noqa: F401 (fixtures shared with the API suite)
    LiveApi,
    ServerThread,
    api_database,
    api_settings,
    build_world,
    db_url,
)
from tests.log_guard import LogGuard

# Names the world's patients carry: the suite fails if any is ever logged.
NAMES = ("Ann", "Able", "Bob Baker", "Baker", "Cat Cole")


def care_app(settings: Settings) -> FastAPI:
    """The API app with the care routes (included here when the app does not yet)."""
    app = create_app(settings)
    paths = {getattr(route, "path", None) for route in app.routes}
    for router in (care_router, responder_router, outcomes_router):
        if not any(getattr(r, "path", None) in paths for r in router.routes):
            app.include_router(router)
    return app


@pytest.fixture
def care_api(api_settings: Settings, db_url: str, conn: psycopg.Connection,  # noqa: F811
             log_guard: LogGuard) -> Iterator[LiveApi]:
    """The API served over real HTTP with a small world in its database."""
    world = build_world(conn)
    log_guard.register(*NAMES)
    with ServerThread(care_app(api_settings)) as srv:
        yield LiveApi(f"http://127.0.0.1:{srv.port}", world, api_settings, db_url)
