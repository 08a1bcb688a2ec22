"""Monitoring fixtures: a real hub process on the test's database, broker and topic root,
and reading its /metrics."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from telehub.config import Settings
from telehub.demo.embedded import free_port
from tests.ingest.conftest import Caseload, wait_for
from tests.ingest.conftest import caseload as caseload  # the fixture
from tests.monitoring.scraping import scrape, value
from tests.reliability.harness import Hub


@pytest.fixture
def hub(settings: Settings, caseload: Caseload, tmp_path: Path) -> Iterator[Hub]:
    """A `python -m telehub hub` process on the test's database, broker and topic root."""
    port = free_port()
    env = dict(os.environ, TELEHUB_DATABASE_URL=str(settings.database_url),
               TELEHUB_MQTT_URL=str(settings.mqtt_url), TELEHUB_TOPIC_ROOT=settings.topic_root,
               TELEHUB_INGEST__CLIENT_ID=f"hub-{uuid.uuid4().hex[:12]}",
               TELEHUB_INGEST__METRICS_PORT=str(port), TELEHUB_INGEST__SHARED="false")
    process = Hub(env, tmp_path / "hub.log", port).start()
    url = f"http://127.0.0.1:{port}/metrics"

    def connected() -> bool:
        try:
            return value(scrape(url)[1], "telehub_mqtt_connected") == 1
        except (OSError, KeyError):
            return False

    wait_for(connected, timeout=30, what="the hub serving metrics, connected to the broker")
    yield process
    process.stop()
