"""What the running API holds: settings, the database pool, metrics and the sign-in limiter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from psycopg_pool import ConnectionPool

from telehub.config import Settings

if TYPE_CHECKING:
    from api.observability import Observability
    from api.ratelimit import SlidingWindowLimiter


@dataclass
class ApiState:
    """Built in the lifespan, stored on `app.state.telehub`."""

    settings: Settings
    pool: ConnectionPool
    observability: Observability
    signin_limiter: SlidingWindowLimiter
