"""Database connections: one pool per process, one transaction per `with pool.connection()`.

`url` may name several hosts (`postgresql://h1:5432,h2:5432/telehub?target_session_attrs=
read-write`): libpq tries them in turn and keeps the one that accepts writes, so after a
standby is promoted every new connection finds it (docs/operations/postgresql-failover.md).
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

logger = logging.getLogger(__name__)

# How long the pool's reconnect back-off (1, 2, 4 … s) may grow before it starts again from
# 1 s. psycopg_pool's default (5 minutes) lets the gap between attempts double to minutes,
# so a standby promoted after a 35 s outage was found 25 s late; restarting every 10 s
# keeps the gap under 4 s, and the pool never gives up looking for a primary.
RECONNECT_WINDOW_S = 10.0


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection:
    """A single connection (CLI commands, migrations, tests)."""
    return psycopg.connect(url, autocommit=autocommit, row_factory=dict_row)  # type: ignore[arg-type, return-value]


def _look_again(pool: ConnectionPool) -> None:
    """The reconnect window passed without a primary: start a fresh attempt at once."""
    logger.warning("pool %s: no database accepting writes for %.0f s; still trying",
                   pool.name, RECONNECT_WINDOW_S)
    pool.check()


def open_pool(url: str, *, max_size: int = 10, min_size: int = 1, name: str = "telehub",
              wait: bool = True, timeout: float = 30.0, options: str | None = None
              ) -> ConnectionPool:
    """A connection pool whose connections return rows as dicts; a connection is checked
    before it is handed out, so one broken by a failover is replaced, not used.

    `wait=False` opens it without waiting for the database (the API starts while it is
    down); `options` are server settings for every session (`-c jit=off`)."""
    kwargs: dict[str, Any] = {"row_factory": dict_row}
    if options:
        kwargs["options"] = options
    pool = ConnectionPool(
        url, min_size=min_size, max_size=max_size, name=name, open=False, kwargs=kwargs,
        timeout=timeout, check=ConnectionPool.check_connection,
        reconnect_timeout=RECONNECT_WINDOW_S, reconnect_failed=_look_again,
    )
    if wait:
        pool.open(wait=True, timeout=timeout)
    else:
        pool.open(wait=False)
    return pool
