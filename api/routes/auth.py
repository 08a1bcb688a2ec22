"""Sign-in (OAuth2 password flow → opaque bearer token), sign-out and `GET /me`."""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import Conn, CurrentStaff, State, client_addr, oauth2_scheme, token_digest
from api.errors import ApiError
from api.schemas.auth import StaffOut, TokenOut
from api.schemas.common import Problem
from telehub.passwords import verify_password

logger = logging.getLogger(__name__)

router = APIRouter(tags=["auth"])

STAFF_SQL = """
SELECT s.id, s.username, s.display_name, s.role::text AS role, s.team_id, s.active,
       s.password_hash, t.code AS team_code
FROM staff s LEFT JOIN teams t ON t.id = s.team_id
WHERE s.username = %s
"""
ISSUE_SQL = """
INSERT INTO api_tokens (token_hash, staff_id, kind, expires_at)
VALUES (%s, %s, 'session', %s)
"""

_REFUSED = ApiError(401, "Wrong username or password, or the account is disabled.",
                    "bad-credentials", {"WWW-Authenticate": "Bearer"})


def new_token() -> str:
    """A 256-bit random bearer token."""
    return secrets.token_urlsafe(32)


@router.post("/auth/token", response_model=TokenOut, summary="Sign in",
             responses={401: {"model": Problem}, 429: {"model": Problem}})
def sign_in(form: Annotated[OAuth2PasswordRequestForm, Depends()], conn: Conn, state: State,
            request: Request) -> TokenOut:
    """Exchange a username and password for a bearer token (OAuth2 password form)."""
    addr = client_addr(request) or "unknown"
    # Per account and address (guessing one password), and per address over all accounts
    # (a tenth of the budget per account; the dashboard signs everyone in from one address).
    account = f"{addr}|{form.username.strip().lower()[:64]}"
    if not (state.signin_limiter.allow(account) and state.address_limiter.allow(addr)):
        state.observability.signin_failures.labels("rate-limited").inc()
        raise ApiError(429, "Too many sign-in attempts; wait a minute.", "rate-limited",
                       {"Retry-After": "60"})
    row = conn.execute(STAFF_SQL, (form.username.strip().lower(),)).fetchone()
    # Verify even for an unknown user so response time does not reveal which usernames exist.
    ok = verify_password(row["password_hash"] if row else _DUMMY_HASH, form.password)
    if row is None or not ok or not row["active"]:
        state.observability.signin_failures.labels("bad-credentials").inc()
        logger.info("refused sign-in from %s", addr)
        raise _REFUSED
    token = new_token()
    expires = datetime.now(UTC) + timedelta(hours=state.settings.api.token_hours)
    conn.execute(ISSUE_SQL, (token_digest(token), row["id"], expires))
    conn.commit()
    logger.info("staff %s signed in", row["id"])
    return TokenOut(access_token=token, expires_at=expires)


@router.post("/auth/logout", status_code=204, summary="Sign out (revoke this token)",
             response_class=Response)
def sign_out(staff: CurrentStaff, conn: Conn,
             token: Annotated[str | None, Depends(oauth2_scheme)]) -> Response:
    """Revoke the bearer token the request came with."""
    assert token is not None  # current_staff refused a request without one
    conn.execute("UPDATE api_tokens SET revoked_at = now() WHERE token_hash = %s",
                 (token_digest(token),))
    conn.commit()
    return Response(status_code=204)


@router.get("/me", response_model=StaffOut, summary="Who am I",
            responses={401: {"model": Problem}})
def me(staff: CurrentStaff, conn: Conn) -> StaffOut:
    """The signed-in member of staff."""
    row = conn.execute(STAFF_SQL, (staff.username,)).fetchone()
    assert row is not None
    return StaffOut.model_validate(row)


def _dummy_hash() -> str:
    from telehub.passwords import hash_password

    return hash_password(secrets.token_urlsafe(16))


_DUMMY_HASH = _dummy_hash()
