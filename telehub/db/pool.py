"""Database connections: one pool per process, one transaction per `with pool.connection()`."""

from __future__ import annotations

import logging

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

logger = logging.getLogger(__name__)


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection:
    """A single connection (CLI commands, migrations, tests)."""
    return psycopg.connect(url, autocommit=autocommit, row_factory=dict_row)  # type: ignore[arg-type, return-value]


def open_pool(url: str, *, max_size: int = 10, min_size: int = 1, name: str = "telehub",
              wait: bool = True, timeout: float = 30.0) -> ConnectionPool:
    """A connection pool whose connections return rows as dicts."""
    pool = ConnectionPool(
        url, min_size=min_size, max_size=max_size, name=name, open=False,
        kwargs={"row_factory": dict_row}, timeout=timeout,
    )
    pool.open(wait=wait, timeout=timeout)
    return pool


def has_timescaledb(conn: psycopg.Connection) -> bool:
    """True when the timescaledb extension is installed in this database."""
    row = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    return row is not None
