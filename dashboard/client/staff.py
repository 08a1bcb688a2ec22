"""Who is signed in and who they work with: sign-in tokens, staff and teams."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from dashboard.client.transport import Transport


class _In(BaseModel):
    """The fields the dashboard shows; unknown ones are ignored, so the API may grow."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Token(_In):
    """A bearer token from sign-in."""

    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_at: datetime | None = None


class Staff(_In):
    """The signed-in member of staff (or a colleague)."""

    id: int
    username: str
    display_name: str
    role: str
    team_id: int | None = None
    team_code: str | None = None


class Team(_In):
    """A nursing team."""

    id: int
    code: str
    name: str


class StaffCalls(Transport):
    """Signing in and out, and the teams and colleagues of the signed-in user."""

    def sign_in(self, username: str, password: str) -> Token:
        """Exchange a username and password for a token (OAuth2 password form)."""
        body = self._request("POST", "/auth/token",
                             data={"username": username, "password": password})
        return Token.model_validate(body)

    def sign_out(self) -> None:
        """Revoke this token."""
        self._request("POST", "/auth/logout")

    def me(self) -> Staff:
        """Who the token belongs to."""
        return self._get("/me", Staff)

    def teams(self) -> list[Team]:
        """Teams the caller works in (all of them for cross-team roles)."""
        return self._list("/teams", Team)

    def team_staff(self, team_id: int) -> list[Staff]:
        """Who an alert of this team can be given to."""
        return self._list(f"/teams/{team_id}/staff", Staff)
