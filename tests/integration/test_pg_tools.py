"""Which pg_dump or pg_restore Telehub runs: the server's major version, from PATH or Debian's
versioned directory, and a clear error when neither will do (fake programs in a temp dir)."""

from __future__ import annotations

from pathlib import Path

import pytest

from telehub.db.pgtools import find_tool
from telehub.errors import BackupError


def fake(directory: Path, major: int) -> Path:
    """A program named pg_dump that reports PostgreSQL `major`."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "pg_dump"
    path.write_text(f"#!/bin/sh\necho 'pg_dump (PostgreSQL) {major}.3 (Debian)'\n")
    path.chmod(0o755)
    return path


def test_the_server_major_version_wins_over_a_different_one_on_path(tmp_path: Path) -> None:
    fake(tmp_path / "path", 14)
    wanted = fake(tmp_path / "debian" / "15" / "bin", 15)
    tool = find_tool("pg_dump", 15, search_path=str(tmp_path / "path"),
                     debian_bin=tmp_path / "debian")
    assert (tool.path, tool.major) == (str(wanted), 15)


def test_a_newer_client_on_path_serves_an_older_server(tmp_path: Path) -> None:
    newer = fake(tmp_path / "path", 16)
    tool = find_tool("pg_dump", 15, search_path=str(tmp_path / "path"),
                     debian_bin=tmp_path / "debian")
    assert tool.path == str(newer)


def test_only_an_older_client_is_a_clear_error(tmp_path: Path) -> None:
    fake(tmp_path / "path", 13)
    with pytest.raises(BackupError, match=r"pg_dump for PostgreSQL 15 or newer was not found "
                                          r"\(found: .*pg_dump \(13\)\).*postgresql-client-15"):
        find_tool("pg_dump", 15, search_path=str(tmp_path / "path"),
                  debian_bin=tmp_path / "debian")


def test_no_client_at_all_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match=r"\(found: none\)"):
        find_tool("pg_dump", 15, search_path=str(tmp_path), debian_bin=tmp_path)
