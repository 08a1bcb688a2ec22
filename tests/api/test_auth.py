"""Sign-in, tokens and `GET /me` over real HTTP."""

from __future__ import annotations

import psycopg

from tests.api.conftest import PASSWORD, LiveApi


def test_sign_in_returns_a_token_that_identifies_the_caller(live_api: LiveApi,
                                                            log_guard: object) -> None:
    token = live_api.token("nurse")
    with live_api.client() as c:
        r = c.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    body = r.json()
    assert body["username"] == "nurse"
    assert body["role"] == "nurse"
    assert body["team_code"] == "north"


def test_token_is_stored_hashed_with_an_expiry(live_api: LiveApi,
                                               conn: psycopg.Connection) -> None:
    token = live_api.token("nurse")
    rows = conn.execute("SELECT token_hash, expires_at > now() + interval '11 hours' AS long, "
                        "expires_at < now() + interval '13 hours' AS short FROM api_tokens"
                        ).fetchall()
    assert len(rows) == 1
    assert token.encode() not in bytes(rows[0]["token_hash"])
    assert rows[0]["long"] and rows[0]["short"]


def test_wrong_password_and_unknown_user_are_refused_alike(live_api: LiveApi) -> None:
    with live_api.client() as c:
        wrong = c.post("/auth/token", data={"username": "nurse", "password": "nope-nope-nope"})
        unknown = c.post("/auth/token", data={"username": "ghost", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.headers["content-type"].startswith("application/problem+json")
    assert wrong.json()["detail"] == unknown.json()["detail"]


def test_requests_without_or_with_a_bad_token_get_401(live_api: LiveApi) -> None:
    with live_api.client() as c:
        none = c.get("/me")
        bad = c.get("/me", headers={"Authorization": "Bearer not-a-token"})
    assert none.status_code == 401 and bad.status_code == 401
    assert none.headers["www-authenticate"] == "Bearer"
    assert none.json()["code"] == "not-authenticated"


def test_expired_token_is_refused(live_api: LiveApi, conn: psycopg.Connection) -> None:
    with live_api.client("nurse") as c:
        assert c.get("/me").status_code == 200
        conn.execute("UPDATE api_tokens SET expires_at = now() - interval '1 second'")
        conn.commit()
        r = c.get("/me")
    assert r.status_code == 401
    assert r.json()["code"] == "bad-token"


def test_disabled_account_cannot_use_its_token_or_sign_in(live_api: LiveApi,
                                                          conn: psycopg.Connection) -> None:
    with live_api.client("nurse") as c:
        conn.execute("UPDATE staff SET active = false, disabled_at = now() "
                     "WHERE username = 'nurse'")
        conn.commit()
        assert c.get("/me").status_code == 401
        assert c.post("/auth/token", data={"username": "nurse",
                                           "password": PASSWORD}).status_code == 401


def test_logout_revokes_the_token(live_api: LiveApi) -> None:
    with live_api.client("nurse") as c:
        assert c.post("/auth/logout").status_code == 204
        assert c.get("/me").status_code == 401


def test_sign_in_is_rate_limited_per_account(live_api: LiveApi) -> None:
    limit = live_api.settings.api.signin_attempts_per_minute
    with live_api.client() as c:
        codes = [c.post("/auth/token", data={"username": "nurse", "password": "wrong-wrong"}
                        ).status_code for _ in range(limit + 1)]
        other = c.post("/auth/token", data={"username": "matron", "password": PASSWORD})
    assert codes[:limit] == [401] * limit
    assert codes[limit] == 429
    assert other.status_code == 200  # another account from the same address still signs in
