"""Database connections: one pool per process, one transaction per `with pool.connection()`.

`url` may name several hosts (`postgresql://h1:5432,h2:5432/telehub?target_session_attrs=
read-write`): libpq tries them in turn and keeps the one that accepts writes, so after a
standby is promoted every new connection finds it (docs/operations/postgresql-failover.md).
"""

from __future__ import annotations

import logging
import time
import weakref
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
# A statement is prepared (parsed and planned once per connection) from its second use, not
# psycopg's default sixth: the pool hands its connections out in turn, so with the default
# a hub's hot statements went unprepared on every connection for the first dozens of uses.
PREPARE_THRESHOLD = 1


# A connection back in the pool this recently is handed out again without the check's
# round trip: a busy writer or notifier would otherwise pay one per transaction. One idle
# for longer (long enough for a failover to have broken it) is checked first.
RECENTLY_USED_S = 1.0
_returned_at: weakref.WeakKeyDictionary[psycopg.Connection[Any], float] = (
    weakref.WeakKeyDictionary())


def _stamp(conn: psycopg.Connection[Any]) -> None:
    """The pool took the connection back (healthy and idle): note when."""
    _returned_at[conn] = time.monotonic()


def _check_unless_recent(conn: psycopg.Connection[Any]) -> None:
    """The pool's check (a round trip), skipped for a connection returned moments ago."""
    returned = _returned_at.pop(conn, None)
    if returned is not None and time.monotonic() - returned < RECENTLY_USED_S \
            and not conn.closed and not conn.broken:
        return
    ConnectionPool.check_connection(conn)


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
    """A connection pool whose connections return rows as dicts; a connection idle for
    more than RECENTLY_USED_S is checked before it is handed out, so one broken by a
    failover is replaced, not used.

    `wait=False` opens it without waiting for the database (the API starts while it is
    down); `options` are server settings for every session (`-c jit=off`)."""
    kwargs: dict[str, Any] = {"row_factory": dict_row, "prepare_threshold": PREPARE_THRESHOLD}
    if options:
        kwargs["options"] = options
    pool = ConnectionPool(
        url, min_size=min_size, max_size=max_size, name=name, open=False, kwargs=kwargs,
        timeout=timeout, check=_check_unless_recent, reset=_stamp,
        reconnect_timeout=RECONNECT_WINDOW_S, reconnect_failed=_look_again,
    )
    if wait:
        pool.open(wait=True, timeout=timeout)
    else:
        pool.open(wait=False)
    return pool
