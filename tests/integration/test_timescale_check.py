"""telehub.db.timescale tells the two paths apart, on whichever server the tests run."""

from __future__ import annotations

import psycopg

from telehub.db.migrate import preloaded_libraries
from telehub.db.timescale import has_timescaledb, readings_is_hypertable


def test_a_migrated_database_takes_the_path_its_server_offers(
        conn: psycopg.Connection) -> None:
    available = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name='timescaledb'"
                             ).fetchone() is not None
    offered = available and "timescaledb" in preloaded_libraries(conn)
    assert has_timescaledb(conn) is offered
    assert readings_is_hypertable(conn) is offered


def test_a_plain_readings_table_is_no_hypertable_even_with_the_extension(
        empty_db_url: str) -> None:
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE readings (time timestamptz NOT NULL)")
        assert readings_is_hypertable(conn) is False
