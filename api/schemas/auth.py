"""Models of the sign-in and staff routes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from api.schemas.common import _Out
from telehub.domain.codes import Role


class TokenOut(BaseModel):
    """A bearer token (OAuth2 password flow); the token is shown only in this response."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (the OAuth2 token type)
    expires_at: datetime


class StaffOut(_Out):
    """A member of staff, without credentials."""

    id: int
    username: str
    display_name: str
    role: Role
    team_id: int | None
    team_code: str | None = None
    active: bool = True

