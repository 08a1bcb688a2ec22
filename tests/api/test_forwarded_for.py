"""Whose address the API sees: the TCP peer, unless the peer is a configured reverse proxy."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from api.main import create_app
from tests.api.conftest import LiveApi, ServerThread


def _read_patient_as_nurse(api: LiveApi, forwarded_for: str) -> str | None:
    """GET one patient with an X-Forwarded-For header; the audit row's address."""
    with api.client("nurse") as c:
        r = c.get(f"/patients/{api.world.patients['ann']}",
                  headers={"X-Forwarded-For": forwarded_for})
    assert r.status_code == 200, r.text
    with psycopg.connect(api.db_url) as conn:
        row = conn.execute("SELECT client_addr FROM audit_log WHERE action = 'read' "
                           "AND resource = 'patient' ORDER BY id DESC LIMIT 1").fetchone()
    assert row is not None
    return row[0]


def test_forwarded_for_from_an_unconfigured_peer_does_not_escape_the_sign_in_limit(
        live_api: LiveApi) -> None:
    limit = live_api.settings.api.signin_attempts_per_minute
    with live_api.client() as c:
        codes = [c.post("/auth/token", data={"username": "nurse", "password": "wrong-wrong"},
                        headers={"X-Forwarded-For": f"203.0.113.{i + 1}"}).status_code
                 for i in range(limit + 1)]
    assert codes[:limit] == [401] * limit
    assert codes[limit] == 429


def test_audit_log_records_the_real_peer_not_a_forwarded_for_it_wrote(
        live_api: LiveApi) -> None:
    assert _read_patient_as_nurse(live_api, "203.0.113.7") == "127.0.0.1"


@pytest.fixture
def proxied_api(live_api: LiveApi) -> Iterator[LiveApi]:
    """The same service behind a reverse proxy on 127.0.0.1 (TELEHUB_API__TRUSTED_PROXIES)."""
    api = live_api.settings.api.model_copy(update={"trusted_proxies": ["127.0.0.1"]})
    settings = live_api.settings.model_copy(update={"api": api})
    with ServerThread(create_app(settings), settings.api) as srv:
        yield LiveApi(f"http://127.0.0.1:{srv.port}", live_api.world, settings,
                      live_api.db_url)


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_callers(
        proxied_api: LiveApi) -> None:
    # The proxy appends the address it saw; the client's own claims sit to its left.
    assert _read_patient_as_nurse(proxied_api, "198.51.100.9, 203.0.113.7") == "203.0.113.7"


def test_behind_a_trusted_proxy_the_sign_in_limit_keys_on_the_forwarded_address(
        proxied_api: LiveApi) -> None:
    limit = proxied_api.settings.api.signin_attempts_per_minute
    with proxied_api.client() as c:
        def attempt(addr: str) -> int:
            return c.post("/auth/token", data={"username": "nurse", "password": "wrong-wrong"},
                          headers={"X-Forwarded-For": addr}).status_code

        codes = [attempt("203.0.113.7") for _ in range(limit + 1)]
        elsewhere = attempt("203.0.113.8")
    assert codes[limit] == 429
    assert elsewhere == 401  # another caller behind the same proxy is not locked out


def test_trusted_proxies_accept_a_comma_separated_list_and_refuse_a_non_address(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from telehub.config import Settings

    monkeypatch.setenv("TELEHUB_API__TRUSTED_PROXIES", "10.0.0.5, 192.168.0.0/24")
    assert Settings().api.trusted_proxies == ["10.0.0.5", "192.168.0.0/24"]
    monkeypatch.setenv("TELEHUB_API__TRUSTED_PROXIES", "*")
    with pytest.raises(ValidationError):
        Settings()

