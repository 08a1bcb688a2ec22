"""What the running API holds: settings, the database pool, metrics and the sign-in limiter."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from psycopg_pool import ConnectionPool

from api.publisher import ReadingsPublisher
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
    address_limiter: SlidingWindowLimiter
    _publisher: ReadingsPublisher | None = field(default=None, repr=False)

    def publisher(self) -> ReadingsPublisher:
        """The MQTT publisher for HTTP-submitted readings (connects on first use)."""
        if self._publisher is None:
            self._publisher = ReadingsPublisher(self.settings)
        return self._publisher

    def close(self) -> None:
        """Stop what the state started."""
        if self._publisher is not None:
            self._publisher.close()
        self.pool.close()
