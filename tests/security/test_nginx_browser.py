"""The shipped nginx site on loopback with a scratch certificate, in front of the real API and
the real Streamlit dashboard: a headless Chromium signs in over TLS and the caseload renders
(Streamlit's session runs over a WebSocket, so that proves the upgrade is proxied), and the
API through the proxy records the client's address, not one the client wrote, in the audit
log; /metrics stays off the public side."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from telehub.config import Settings
from telehub.demo.embedded import free_port
from tests.dashboard.conftest import PASSWORD, Seeded, serving_api
from tests.dashboard.conftest import seeded as seeded  # the fixture
from tests.dashboard.test_browser import CHROMEDRIVER, CHROMIUM, _healthy
from tests.dashboard.webdriver import Browser, headless_chromium
from tests.security.nginx_site import (
    API,
    DASHBOARD,
    MISSING,
    MISSING_REASON,
    Site,
    loopback_site,
    running_nginx,
)

pytestmark = [
    pytest.mark.skipif(MISSING, reason=MISSING_REASON),
    pytest.mark.skipif(CHROMIUM is None or not Path(CHROMEDRIVER).exists(),
                       reason="needs Debian chromium and chromium-driver (.ci/run installs them)"),
]

# The client's own address as nginx sees it: another loopback address than nginx's, so the
# audit log shows whether the API took the forwarded address or its TCP peer (nginx).
CLIENT_ADDR = "127.0.0.2"


@pytest.fixture
def api_url(settings: Settings) -> Iterator[str]:
    """The real API, believing X-Forwarded-For from nginx on 127.0.0.1 only."""
    behind_proxy = settings.model_copy(update={"api": settings.api.model_copy(
        update={"trusted_proxies": ["127.0.0.1"]})})
    with serving_api(behind_proxy) as url:
        yield url


@pytest.fixture
def dashboard_port(api_url: str) -> Iterator[int]:
    """`telehub dashboard` on loopback, talking to the API directly (as on the server)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "telehub", "dashboard", "--port", str(port), "--api-url", api_url],
        env={**os.environ, "TELEHUB_LOG_LEVEL": "WARNING"}, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 60
    try:
        while not _healthy(f"http://127.0.0.1:{port}/_stcore/health"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("telehub dashboard did not start")
            time.sleep(0.2)
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def site(tmp_path: Path, api_url: str, dashboard_port: int) -> Iterator[Site]:
    """nginx serving the shipped site in front of the two."""
    api_port = int(api_url.rsplit(":", 1)[1])
    served = loopback_site(tmp_path, free_port(), free_port(), dashboard_port, api_port)
    with running_nginx(served):
        yield served


@pytest.fixture
def browser(site: Site) -> Iterator[Browser]:
    """Headless Chromium resolving the site's names to loopback, accepting its scratch
    certificate (the TLS handshake still happens)."""
    rules = f"MAP {DASHBOARD} 127.0.0.1, MAP {API} 127.0.0.1"
    with headless_chromium(str(CHROMIUM), CHROMEDRIVER, free_port(),
                           extra_args=[f"--host-resolver-rules={rules}"],
                           accept_insecure_certs=True) as session:
        yield session


def test_a_nurse_signs_in_through_nginx_over_tls_and_the_caseload_renders(
        site: Site, browser: Browser, seeded: Seeded) -> None:
    browser.get(f"https://{DASHBOARD}:{site.tls_port}/")
    username = browser.wait_for(lambda: browser.find('input[aria-label="Username"]'),
                                "the sign-in form through the proxy", timeout=45)
    browser.type(username, "nurse.north")
    browser.type(browser.find('input[aria-label="Password"]'), PASSWORD)
    browser.click(browser.find(xpath='//button[.//p[text()="Sign in"]]'))
    browser.wait_for(lambda: "3 patients · 1 RED" in browser.body_text(), "the caseload",
                     timeout=45)
    assert not browser.find_all('[data-testid="stException"]')
    with httpx.Client(verify=str(site.certificate), timeout=10) as client:
        # The certificate is checked for the dashboard's name (the SNI nginx answers to).
        page = client.get(f"https://127.0.0.1:{site.tls_port}/", headers={"Host": DASHBOARD},
                          extensions={"sni_hostname": DASHBOARD})
    assert page.headers["strict-transport-security"] == "max-age=31536000"


def _client_through_proxy(site: Site) -> httpx.Client:
    """An HTTPS client of the API's public side, connecting from CLIENT_ADDR."""
    transport = httpx.HTTPTransport(local_address=CLIENT_ADDR, verify=False)
    return httpx.Client(transport=transport, base_url=f"https://127.0.0.1:{site.tls_port}",
                        headers={"Host": API}, timeout=10)


def test_the_api_through_nginx_audits_the_clients_address_and_hides_metrics(
        site: Site, seeded: Seeded, api_url: str, db_url: str) -> None:
    with _client_through_proxy(site) as api:
        token = api.post("/auth/token", data={"username": "nurse.north", "password": PASSWORD})
        assert token.status_code == 200, token.text
        bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
        # A caller's own X-Forwarded-For is replaced by the address nginx saw.
        read = api.get(f"/patients/{seeded.red_patient}",
                       headers={**bearer, "X-Forwarded-For": "203.0.113.7"})
        assert read.status_code == 200, read.text
        assert read.headers["strict-transport-security"] == "max-age=31536000"
        hidden = api.get("/metrics")
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT client_addr FROM audit_log WHERE action = 'read' AND "
                           "resource = 'patient' AND patient_id = %s ORDER BY id DESC LIMIT 1",
                           (seeded.red_patient,)).fetchone()
    assert row is not None
    assert row[0] == CLIENT_ADDR
    assert hidden.status_code == 404
    assert httpx.get(f"{api_url}/metrics").status_code == 200  # Prometheus scrapes it directly
