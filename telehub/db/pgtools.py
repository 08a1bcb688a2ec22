"""PostgreSQL's client programs (pg_dump, pg_restore): which binary to run, and how to hand it
the database URL without putting the password on a command line.

The binary must be at least the server's major version (pg_dump refuses a newer server), so
the one on PATH is used when its major version matches the server's, else Debian's
/usr/lib/postgresql/<major>/bin, else a newer one on PATH.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from telehub.errors import BackupError

# Where Debian and Ubuntu install each major version's client programs side by side.
DEBIAN_BIN = Path("/usr/lib/postgresql")
_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)")


@dataclass(frozen=True)
class Tool:
    """One client program and the PostgreSQL major version it belongs to."""

    path: str
    major: int


@dataclass(frozen=True)
class Connection:
    """A database URL split for a client program: `conninfo` (no password) for --dbname,
    `env` (PGPASSWORD when there is one) for its environment, `where` for people."""

    conninfo: str
    env: Mapping[str, str]
    where: str


def tool_major(path: str) -> int | None:
    """The major version `path --version` reports, or None when it does not run."""
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True,
                             timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION.search(out)
    return int(match.group(1)) if match else None


def find_tool(name: str, server_major: int, *, search_path: str | None = None,
              debian_bin: Path = DEBIAN_BIN) -> Tool:
    """The `name` program to use against a server of `server_major`, or a BackupError that
    says what is missing and how to install it."""
    candidates: list[Tool] = []
    on_path = shutil.which(name, path=search_path)
    if on_path:
        major = tool_major(on_path)
        if major is not None:
            candidates.append(Tool(on_path, major))
    versioned = debian_bin / str(server_major) / "bin" / name
    if versioned.is_file() and os.access(versioned, os.X_OK):
        major = tool_major(str(versioned))
        if major is not None:
            candidates.append(Tool(str(versioned), major))
    for tool in candidates:
        if tool.major == server_major:
            return tool
    newer = [t for t in candidates if t.major > server_major]
    if newer:
        return min(newer, key=lambda t: t.major)
    found = ", ".join(f"{t.path} ({t.major})" for t in candidates) or "none"
    raise BackupError(
        f"{name} for PostgreSQL {server_major} or newer was not found (found: {found}). "
        f"Install the client programs, e.g. `apt-get install postgresql-client-{server_major}`, "
        f"or put their directory first on PATH.")


def split_url(url: str) -> Connection:
    """`url` (a URL or key=value conninfo, one host or several) as a client program takes it:
    the password moves to PGPASSWORD so it is never in argv, `ps` or our output."""
    params = conninfo_to_dict(url)
    password = params.pop("password", None)
    env = {"PGPASSWORD": str(password)} if password else {}
    conninfo = make_conninfo(**{k: str(v) for k, v in params.items()})
    hosts = str(params.get("host") or "local socket").split(",")
    ports = str(params.get("port") or "5432").split(",")
    if len(ports) == 1:
        ports = ports * len(hosts)
    places = ",".join(f"{h}:{p}" for h, p in zip(hosts, ports, strict=False))
    user = f"{params['user']}@" if params.get("user") else ""
    return Connection(conninfo, env, f"{user}{places}/{params.get('dbname') or ''}")


def run_tool(tool: Tool, args: list[str], connection: Connection | None = None, *,
             stdout: int | None = None) -> subprocess.CompletedProcess[str]:
    """Run `tool` with `args` (its stderr captured), the password only in its environment."""
    env = {**os.environ, **(connection.env if connection else {})}
    return subprocess.run([tool.path, *args], env=env, stdout=stdout if stdout is not None
                          else subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False)


def last_lines(text: str, n: int = 15) -> str:
    """The end of a program's stderr, for an error message."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(lines[-n:])
