"""Route dependencies: a database connection, the signed-in member of staff, role checks."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, cast
from zoneinfo import ZoneInfo

import psycopg
from fastapi import Depends, Query, Request
from fastapi.security import OAuth2PasswordBearer

from api.errors import ApiError
from api.state import ApiState
from telehub.domain.codes import Role

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)

CLINICAL = (Role.ADMIN, Role.MATRON, Role.NURSE)

# The pool hands out connections whose rows are dicts (see api.main).
DbConn = psycopg.Connection[Any]


def api_state(request: Request) -> ApiState:
    """The running app's state."""
    state: ApiState = request.app.state.telehub
    return state


def get_conn(request: Request) -> Iterator[DbConn]:
    """A pooled connection; the route commits what it changes (including audit rows)."""
    with api_state(request).pool.connection() as conn:
        yield cast(DbConn, conn)


Conn = Annotated[DbConn, Depends(get_conn)]
State = Annotated[ApiState, Depends(api_state)]


def service_zone(state: State) -> ZoneInfo:
    """The service's time zone: every "today" and local day the API judges is on it."""
    return state.settings.zone


Zone = Annotated[ZoneInfo, Depends(service_zone)]


@dataclass(frozen=True)
class Staff:
    """The member of staff making the request."""

    id: int
    username: str
    display_name: str
    role: Role
    team_id: int | None

    @property
    def spans_teams(self) -> bool:
        """Admins (and cross-team responders and managers) are not bound to one team."""
        return self.team_id is None or self.role == Role.ADMIN


def token_digest(token: str) -> bytes:
    """How a bearer token is stored: its SHA-256 (tokens are 256-bit random, so no salt needed)."""
    return hashlib.sha256(token.encode()).digest()


_UNAUTHORISED = {"WWW-Authenticate": "Bearer"}

SESSION_SQL = """
SELECT t.id AS token_id, t.last_used_at < now() - INTERVAL '1 minute' AS stale,
       s.id, s.username, s.display_name, s.role::text AS role, s.team_id
FROM api_tokens t JOIN staff s ON s.id = t.staff_id
WHERE t.token_hash = %s AND t.revoked_at IS NULL AND t.expires_at > now() AND s.active
"""


def current_staff(conn: Conn, token: Annotated[str | None, Depends(oauth2_scheme)]) -> Staff:
    """The staff member whose valid bearer token came with the request, else 401."""
    if not token:
        raise ApiError(401, "Sign in first: send 'Authorization: Bearer <token>'.",
                       "not-authenticated", _UNAUTHORISED)
    with conn.transaction():  # its own transaction, committed before the route runs
        row = conn.execute(SESSION_SQL, (token_digest(token),)).fetchone()
        if row is not None and row["stale"] is not False:
            # Touched at most once a minute: no write (and no row lock held for the request)
            # on every call, yet idle tokens stay visible to an operator.
            conn.execute("UPDATE api_tokens SET last_used_at = now() WHERE id = %s",
                         (row["token_id"],))
    if row is None:
        raise ApiError(401, "The token is unknown, expired or revoked; sign in again.",
                       "bad-token", _UNAUTHORISED)
    return Staff(id=row["id"], username=row["username"], display_name=row["display_name"],
                 role=Role(row["role"]), team_id=row["team_id"])


CurrentStaff = Annotated[Staff, Depends(current_staff)]


def require(*roles: Role) -> Callable[[Staff], Staff]:
    """A dependency that admits only `roles` (403 otherwise)."""

    def check(staff: CurrentStaff) -> Staff:
        if staff.role not in roles:
            raise ApiError(403, f"The {staff.role.value} role may not do this.", "forbidden")
        return staff

    return check


Clinical = Annotated[Staff, Depends(require(*CLINICAL))]
Admin = Annotated[Staff, Depends(require(Role.ADMIN))]


@dataclass(frozen=True)
class Paging:
    """A window of a list."""

    limit: int
    offset: int


def paging(limit: Annotated[int, Query(ge=1, le=500)] = 50,
           offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> Paging:
    """`?limit=&offset=` (at most 500 items a page)."""
    return Paging(limit, offset)


Pages = Annotated[Paging, Depends(paging)]


def client_addr(request: Request) -> str | None:
    """The caller's address for the audit log."""
    return request.client.host if request.client else None
