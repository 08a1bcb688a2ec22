"""Benchmarks drop and recreate only databases named as theirs."""

from __future__ import annotations

import psycopg
import pytest

from bench.databases import drop_database, recreate_database
from telehub.errors import ConfigError


def test_benchmarks_refuse_to_drop_a_database_not_named_as_theirs(pg_admin_url: str) -> None:
    with pytest.raises(ConfigError, match="telehub_bench"):
        recreate_database(pg_admin_url, "telehub")
    with pytest.raises(ConfigError, match="telehub_bench"):
        drop_database(pg_admin_url, "test")
    with psycopg.connect(pg_admin_url) as conn:   # the server's own database is untouched
        assert conn.execute("SELECT 1").fetchone() == (1,)
