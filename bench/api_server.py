"""The Telehub API served by uvicorn in a process of its own, for timing it over real HTTP."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import psycopg

from telehub.care.registration import add_staff
from telehub.demo.embedded import free_port, stop_process, wait_for_port
from telehub.passwords import generate_secret


@dataclass(frozen=True)
class ApiSession:
    """A running API and a signed-in client for it."""

    url: str
    client: httpx.Client
    pid: int


def api_missing() -> str | None:
    """None when the API package can be imported here, else why not."""
    try:
        from api.main import create_app  # noqa: F401
    except ImportError as err:
        return f"the API is not installed: {err}"
    return None


@contextlib.contextmanager
def serve_api(database_url: str, team_id: int, source: str | None = None
              ) -> Iterator[ApiSession]:
    """Start the API on `database_url` and sign in as a new matron of `team_id`; `source`: a
    Telehub source tree to run the API from instead of this one (`python -m` imports from
    its working directory first)."""
    username = f"bench-matron-{team_id}-{os.getpid()}"
    password = generate_secret()
    with psycopg.connect(database_url) as conn:
        conn.execute("DELETE FROM staff WHERE username = %s AND NOT EXISTS "
                     "(SELECT 1 FROM api_tokens t WHERE t.staff_id = staff.id)", (username,))
        if conn.execute("SELECT 1 FROM staff WHERE username = %s", (username,)).fetchone():
            username = f"{username}-{generate_secret(3).lower().replace('_', '')}"
        add_staff(conn, username=username, display_name="Benchmark matron", role="matron",
                  team=team_id, password=password)
        conn.commit()
    port = free_port()
    # `telehub api`, as an operator runs it (api.server holds the one uvicorn configuration).
    proc = subprocess.Popen([sys.executable, "-m", "telehub", "api", "--host", "127.0.0.1",
                             "--port", str(port)],
                            env={**os.environ, "TELEHUB_DATABASE_URL": database_url,
                                 "TELEHUB_LOG_LEVEL": "WARNING"},
                            stdin=subprocess.DEVNULL, cwd=source)
    try:
        wait_for_port("127.0.0.1", port, timeout=60)
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=url, timeout=60) as client:
            answer = client.post("/auth/token", data={"username": username,
                                                      "password": password})
            answer.raise_for_status()
            client.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
            yield ApiSession(url, client, proc.pid)
    finally:
        stop_process(proc)
