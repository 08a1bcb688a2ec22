"""Shared fixtures: a fresh database per test on a real PostgreSQL, a real MQTT broker.

TELEHUB_TEST_DATABASE_URL / TELEHUB_TEST_MQTT_URL name real services (CI sets them);
otherwise the embedded PostgreSQL and broker are started for the session.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest
from psycopg import sql

from telehub.config import IngestSettings, Settings, get_settings
from telehub.db.migrate import migrate
from telehub.db.pool import connect
from tests.databases import clone_database, seal_template

if TYPE_CHECKING:
    from tests.log_guard import LogGuard

pytest_plugins = ["tests.log_guard"]


def _with_database(url: str, name: str) -> str:
    """`url` pointing at database `name` (works for host URLs and socket URLs)."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(url)
    params["dbname"] = name
    return make_conninfo(**params)


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """A superuser URL on a real PostgreSQL server."""
    url = os.environ.get("TELEHUB_TEST_DATABASE_URL")
    if url:
        yield url
        return
    from telehub.demo.embedded import embedded_postgres

    with embedded_postgres(Path(tempfile.mkdtemp(prefix="telehub-pg-")), delete=True) as url:
        yield url


@pytest.fixture(scope="session")
def template_db(pg_admin_url: str) -> Iterator[str]:
    """A migrated template database; each test's database is a copy of it."""
    name = f"telehub_tpl_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with connect(_with_database(pg_admin_url, name)) as conn:
        migrate(conn)
    seal_template(pg_admin_url, name)
    yield name
    with psycopg.connect(pg_admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                      .format(sql.Identifier(name)))


@pytest.fixture
def db_url(pg_admin_url: str, template_db: str) -> Iterator[str]:
    """A fresh, migrated database of this test's own."""
    name = f"telehub_t_{uuid.uuid4().hex[:12]}"
    clone_database(pg_admin_url, name, template_db)
    yield _with_database(pg_admin_url, name)
    with psycopg.connect(pg_admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                      .format(sql.Identifier(name)))


@pytest.fixture
def empty_db_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh database with no schema at all (for migration tests)."""
    name = f"telehub_e_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield _with_database(pg_admin_url, name)
    with psycopg.connect(pg_admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                      .format(sql.Identifier(name)))


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection]:
    """A connection (dict rows) to this test's database."""
    with connect(db_url) as c:
        yield c


@pytest.fixture(scope="session")
def broker() -> Iterator[dict[str, object]]:
    """A real MQTT broker: {"url", "kind", "no_loss"}."""
    url = os.environ.get("TELEHUB_TEST_MQTT_URL")
    if url:
        yield {"url": url, "kind": "external", "no_loss": True}
        return
    from telehub.demo.embedded import embedded_broker

    with embedded_broker(Path(tempfile.mkdtemp(prefix="telehub-mqtt-"))) as info:
        yield {"url": info.url, "kind": info.kind, "no_loss": info.no_loss}


@pytest.fixture
def mqtt_url(broker: dict[str, object]) -> str:
    """The broker's URL."""
    return str(broker["url"])


@pytest.fixture
def no_loss_broker(broker: dict[str, object]) -> None:
    """Skip a test that proves no loss when only amqtt is available."""
    if not broker["no_loss"]:
        pytest.skip("amqtt neither queues QoS 1 for offline sessions nor redelivers; "
                    "needs mosquitto (CI has it)")


@pytest.fixture
def topic_root() -> str:
    """A topic root of this test's own, so tests sharing a broker never see each other."""
    return f"test/{uuid.uuid4().hex[:12]}/telehub/v1"


@pytest.fixture
def settings(db_url: str, mqtt_url: str, topic_root: str, tmp_path: Path) -> Iterator[Settings]:
    """Settings for this test's database, broker and topic root."""
    s = Settings(
        database_url=db_url, mqtt_url=mqtt_url, topic_root=topic_root, data_dir=tmp_path,
        ingest=IngestSettings(client_id=f"hub-{uuid.uuid4().hex[:12]}", metrics_port=0),
    )
    get_settings.cache_clear()
    yield s
    get_settings.cache_clear()


@pytest.fixture
def log_guard() -> LogGuard:
    """Register names and tokens a test creates, so the suite fails if any is ever logged."""
    from tests.log_guard import GUARD

    return GUARD
