"""How a database URL reaches pg_dump and pg_restore, and how a recorded migration state
compares with the code's: no database needed."""

from __future__ import annotations

from telehub.db.migrate import compare_state, load_migrations
from telehub.db.pgtools import split_url


def test_the_password_goes_to_the_environment_never_to_the_command_line() -> None:
    got = split_url("postgresql://telehub:s%40cret@db1:5432/telehub?sslmode=require")
    assert "s@cret" not in got.conninfo and "password" not in got.conninfo
    assert got.env == {"PGPASSWORD": "s@cret"}
    assert "sslmode=require" in got.conninfo and "dbname=telehub" in got.conninfo
    assert got.where == "telehub@db1:5432/telehub"


def test_a_multi_host_url_keeps_every_host_and_the_read_write_requirement() -> None:
    got = split_url("postgresql://telehub@db1:5432,db2:5433/telehub"
                    "?target_session_attrs=read-write&connect_timeout=5")
    assert "host=db1,db2" in got.conninfo and "port=5432,5433" in got.conninfo
    assert "target_session_attrs=read-write" in got.conninfo
    assert got.env == {}
    assert got.where == "telehub@db1:5432,db2:5433/telehub"


def test_a_state_with_a_migration_this_code_lacks_is_from_a_newer_telehub() -> None:
    shipped = {m.version: m.name for m in load_migrations()}
    assert compare_state(shipped).unknown == () and compare_state(shipped).pending == ()
    newer = compare_state({**shipped, 9001: "from_later"})
    assert newer.unknown == ("9001_from_later",) and newer.pending == ()
    last = max(shipped)
    older = compare_state({v: n for v, n in shipped.items() if v != last})
    assert older.unknown == () and older.pending == (f"{last:04d}_{shipped[last]}",)
