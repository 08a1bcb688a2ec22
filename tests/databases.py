"""Test databases copied from the migrated template, safely beside TimescaleDB's workers.

CREATE DATABASE … TEMPLATE fails while anyone is connected to the template. Where the
timescaledb extension is installed, its background-worker launcher starts a job scheduler
in every database that allows connections, the template included. The launcher and each
scheduler skip a database whose `datallowconn` is false (timescaledb's bgw_launcher.c), so
the template is sealed once migrated: connections refused, anything still connected
terminated. Plain PostgreSQL takes the same path, so CI tests it too.
"""

from __future__ import annotations

import time

import psycopg
from psycopg import errors, sql

# PostgreSQL itself waits up to 5 s for other sessions to leave the template; a worker that
# was starting as the template was sealed is gone by then, so a few tries are plenty.
_CLONE_TRIES = 5

_TERMINATE_SQL = """
SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE datname = %s AND pid <> pg_backend_pid()
"""


def seal_template(admin_url: str, name: str) -> None:
    """Refuse new connections to template `name` and end those it still has."""
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false")
                      .format(sql.Identifier(name)))
        admin.execute(_TERMINATE_SQL, (name,))


def clone_database(admin_url: str, name: str, template: str) -> None:
    """CREATE DATABASE `name` as a copy of the sealed `template`."""
    statement = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
        sql.Identifier(name), sql.Identifier(template))
    with psycopg.connect(admin_url, autocommit=True) as admin:
        for attempt in range(_CLONE_TRIES):
            try:
                admin.execute(statement)
                return
            except errors.ObjectInUse:
                if attempt == _CLONE_TRIES - 1:
                    raise
                admin.execute(_TERMINATE_SQL, (template,))
                time.sleep(0.2)

