"""`telehub dashboard` listens where the settings say (loopback by default, not every
interface) and keeps Streamlit's cross-origin protection on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import psutil
import pytest

from dashboard.cli import streamlit_command
from telehub.config import Settings
from tests.dashboard.conftest import free_port


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[bytes, dict[str, str]]:
    """(urllib, not httpx: httpx's debug log of Streamlit's headers carries its XSRF cookie,
    whose ten-digit Unix time can pass for an NHS number and trip the log guard.)"""
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 (local http)
    with urllib.request.urlopen(request, timeout=1) as response:  # noqa: S310
        return response.read(), {k.lower(): v for k, v in response.headers.items()}


@pytest.fixture
def dashboard() -> Iterator[tuple[psutil.Process, int]]:
    """`telehub dashboard` with default settings on a free port; the process and its port."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "TELEHUB_DASHBOARD_HOST"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "telehub", "dashboard", "--port", str(port),
         "--api-url", "http://127.0.0.1:9"],
        env={**env, "TELEHUB_LOG_LEVEL": "WARNING"}, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 60
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError("telehub dashboard exited: "
                                   f"{proc.stderr.read() if proc.stderr else b''!r}"[:2000])
            try:
                if _get(f"http://127.0.0.1:{port}/_stcore/health")[0] == b"ok":
                    break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the dashboard did not start within 60 s")
            time.sleep(0.2)
        yield psutil.Process(proc.pid), port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_dashboard_listens_on_loopback_only_by_default(
        dashboard: tuple[psutil.Process, int]) -> None:
    proc, port = dashboard
    pids = {proc.pid, *(child.pid for child in proc.children(recursive=True))}
    listening = {c.laddr.ip for c in psutil.net_connections(kind="tcp")
                 if c.pid in pids and c.status == psutil.CONN_LISTEN and c.laddr.port == port}
    assert listening == {"127.0.0.1"}


def test_dashboard_does_not_open_itself_to_other_origins(
        dashboard: tuple[psutil.Process, int]) -> None:
    _, port = dashboard
    _, headers = _get(f"http://127.0.0.1:{port}/_stcore/health",
                      {"Origin": "http://evil.example"})
    assert headers.get("access-control-allow-origin") in (None, f"http://127.0.0.1:{port}")


def test_streamlit_is_told_the_address_and_protections() -> None:
    command = streamlit_command(Settings(dashboard_host="10.1.2.3"))
    assert command[command.index("--server.address") + 1] == "10.1.2.3"
    assert command[command.index("--server.enableCORS") + 1] == "true"
    assert command[command.index("--server.enableXsrfProtection") + 1] == "true"
    assert Settings().dashboard_host == "127.0.0.1"
    assert Settings(dashboard_host="0.0.0.0").dashboard_url == "http://127.0.0.1:8501"  # noqa: S104
