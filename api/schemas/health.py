"""Models of the liveness and readiness routes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class HealthOut(BaseModel):
    """The process is up."""

    status: Literal["ok"] = "ok"


class ReadyOut(BaseModel):
    """The API can serve requests (its database answers)."""

    status: Literal["ready", "unavailable"]
    database: bool
    reason: str | None = None

