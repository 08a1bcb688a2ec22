"""The reference nginx site in deploy/nginx is valid, and in front of the dashboard it adds the
browser-protection headers Streamlit cannot set; in front of the API it replaces
X-Forwarded-For with the address it saw."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.security.nginx_site import (
    API,
    DASHBOARD,
    MISSING,
    MISSING_REASON,
    Site,
    loopback_site,
    nginx_command,
)

pytestmark = pytest.mark.skipif(MISSING, reason=MISSING_REASON)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Upstream(BaseHTTPRequestHandler):
    """Stands in for Streamlit and uvicorn: a page that sets no protection headers of its
    own (bar a cache header on static files, as Streamlit sends) and echoes X-Forwarded-For."""

    def do_GET(self) -> None:
        body = f"forwarded-for={self.headers.get('X-Forwarded-For')}".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        if self.path.startswith("/static/"):
            self.send_header("Cache-Control", "public, max-age=31536000, immutable")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _loopback_site(tmp: Path, upstream_port: int) -> Site:
    """The shipped site on loopback with both the dashboard and the API on `upstream_port`."""
    return loopback_site(tmp, _free_port(), _free_port(), upstream_port, upstream_port)


@pytest.fixture
def upstream() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="fake-upstream")
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def test_shipped_site_passes_nginx_t(tmp_path: Path, upstream: int) -> None:
    site = _loopback_site(tmp_path, upstream)
    checked = subprocess.run(nginx_command(site, "-t"), capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr


def test_nginx_adds_the_headers_streamlit_cannot_and_replaces_forwarded_for(
        tmp_path: Path, upstream: int) -> None:
    site = _loopback_site(tmp_path, upstream)
    proc = subprocess.Popen(nginx_command(site, "-g", "daemon off;"), stdin=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        url = f"https://127.0.0.1:{site.tls_port}"
        with httpx.Client(base_url=url, verify=False, timeout=5.0) as c:  # noqa: S501
            deadline = time.monotonic() + 10
            while True:
                try:
                    page = c.get("/", headers={"Host": DASHBOARD})
                    break
                except httpx.TransportError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            bundle = c.get("/static/js/main.js", headers={"Host": DASHBOARD})
            api = c.get("/healthz", headers={"Host": API, "X-Forwarded-For": "203.0.113.7"})
            search = c.get("/fhir/Patient", headers={"Host": API}, params={
                "identifier": "https://fhir.nhs.uk/Id/nhs-number|9434765919"})
    finally:
        proc.terminate()
        proc.wait(10)
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-frame-options"] == "DENY"
    policy = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "img-src 'self' data: blob:" in policy
    assert bundle.headers.get_list("cache-control") == ["public, max-age=31536000, immutable"]
    assert bundle.headers["x-frame-options"] == "DENY"
    assert api.text == "forwarded-for=127.0.0.1"  # what nginx saw, not what the caller wrote
    # The access logs keep the path of every request and never its query string, where a
    # FHIR search carries an NHS number.
    assert search.status_code == 200
    api_log = (site.root / "telehub-api-access.log").read_text()
    assert '"GET /fhir/Patient HTTP/2.0" 200' in api_log or \
        '"GET /fhir/Patient HTTP/1.1" 200' in api_log, api_log
    assert "9434765919" not in api_log and "identifier" not in api_log
    assert '"GET / HTTP/' in (site.root / "telehub-access.log").read_text()
