"""Requests generated from the OpenAPI schema of the care routes never get a 5xx."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
import pytest
import schemathesis
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from alerts.telecare import TelecareEvent, raise_telecare_alerts
from api.routes import (
    admissions,
    care_plans,
    care_team,
    follow_ups,
    outcomes,
    responder,
    risk,
    telecare,
)
from telehub.config import Settings
from tests.api.conftest import LiveApi

OWN = {(method, route.path)
       for router in (m.router for m in (care_team, care_plans, risk, responder, telecare,
                                         admissions, follow_ups, outcomes))
       for route in router.routes if isinstance(route, APIRoute)
       for method in route.methods}


def _fuzz(care_api: LiveApi, conn: psycopg.Connection, examples: int,
          modes: tuple[GenerationMode, ...]) -> None:
    now = datetime.now(UTC)
    raise_telecare_alerts(conn, [TelecareEvent(care_api.world.patients["ann"], "fall", now,
                                               "fall-1")], now, Settings().zone)
    conn.commit()
    schema = schemathesis.openapi.from_dict(httpx.get(f"{care_api.url}/openapi.json").json())
    operations = [op for op in (r.ok() for r in schema.get_all_operations())
                  if (op.method.upper(), op.path) in OWN]
    assert len(operations) == len(OWN)
    failures: list[str] = []
    for username in ("admin", "responder"):
        auth = {"Authorization": f"Bearer {care_api.mint_token(username)}"}
        for mode in modes:
            for op in operations:
                try:
                    _fuzzer(op, care_api.url, auth, examples, failures, mode)()
                except Unsatisfiable:
                    assert mode == GenerationMode.NEGATIVE
    assert not failures, "\n".join(failures[:20])


def _fuzzer(op: Any, base_url: str, auth: dict[str, str], examples: int,
            failures: list[str], mode: GenerationMode) -> Callable[[], None]:
    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=op.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=base_url, headers=auth, timeout=15)
        if response.status_code >= 500:
            failures.append(f"{case.method} {case.formatted_path} -> "
                            f"{response.status_code}: {response.text[:200]}")

    return run


@pytest.fixture
def quiet_client_log() -> Iterator[None]:
    """Random path ids may pass the NHS check; the fuzzer's client must not log them."""
    log = logging.getLogger("urllib3")
    level = log.level
    log.setLevel(logging.WARNING)
    yield
    log.setLevel(level)


def test_no_care_operation_answers_5xx(care_api: LiveApi, conn: psycopg.Connection,
                                       quiet_client_log: None) -> None:
    _fuzz(care_api, conn, 3, (GenerationMode.POSITIVE,))


@pytest.mark.slow
def test_no_care_operation_answers_5xx_thoroughly(care_api: LiveApi, conn: psycopg.Connection,
                                                  quiet_client_log: None) -> None:
    _fuzz(care_api, conn, 40, (GenerationMode.POSITIVE, GenerationMode.NEGATIVE))
