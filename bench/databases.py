"""Dedicated benchmark databases on the server the admin URL names."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row

from telehub.db.migrate import migrate
from telehub.errors import ConfigError

Row = dict[str, Any]


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection[Row]:
    """A connection whose rows are dicts."""
    return psycopg.connect(url, autocommit=autocommit, row_factory=dict_row)


def with_database(url: str, name: str) -> str:
    """`url` pointing at database `name`."""
    params = conninfo_to_dict(url)
    params["dbname"] = name
    return make_conninfo("", **params)


def database_comment(admin_url: str, name: str) -> str | None:
    """The database's comment (where a generated data set records its parameters), if any."""
    with psycopg.connect(admin_url, autocommit=True) as admin:
        row = admin.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            (name,)).fetchone()
    return row[0] if row else None


# Benchmarks drop and recreate their databases, so they only ever touch names like this
# one: a mistyped --database can never drop a real Telehub database.
BENCH_PREFIX = "telehub_bench"


def check_bench_name(name: str) -> None:
    """Refuse any database name a benchmark must not drop."""
    if not name.startswith(BENCH_PREFIX):
        raise ConfigError(f"benchmark databases are named {BENCH_PREFIX}*, not '{name}' "
                          "(benchmarks drop and recreate them)")


def recreate_database(admin_url: str, name: str) -> str:
    """Drop `name` if it exists, create it empty, migrate it; returns its URL."""
    check_bench_name(name)
    drop_database(admin_url, name)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_database(admin_url, name)
    with psycopg.connect(url) as conn:
        migrate(conn)
    return url


def set_database_comment(admin_url: str, name: str, comment: str) -> None:
    """Record a comment on the database (values bound through a literal, never formatted)."""
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("COMMENT ON DATABASE {} IS {}")
                      .format(sql.Identifier(name), sql.Literal(comment)))


def drop_database(admin_url: str, name: str) -> None:
    """Drop benchmark database `name` (forcing its connections closed) if it exists."""
    check_bench_name(name)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                      .format(sql.Identifier(name)))
