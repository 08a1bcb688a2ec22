"""Care-coordination fixtures: the API (with the care routes) over real HTTP on the folder's
database, emptied before each test, and a small world of teams, staff and patients."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from fastapi import FastAPI

from api.main import create_app
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
    """The API app (the care routes are part of it)."""
    return create_app(settings)


@pytest.fixture
def care_api(api_settings: Settings, db_url: str, conn: psycopg.Connection,  # noqa: F811
             log_guard: LogGuard) -> Iterator[LiveApi]:
    """The API served over real HTTP with a small world in its database."""
    world = build_world(conn)
    log_guard.register(*NAMES)
    with ServerThread(care_app(api_settings), api_settings.api) as srv:
        yield LiveApi(f"http://127.0.0.1:{srv.port}", world, api_settings, db_url)
