"""Rule evaluation inside the ingest transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import psycopg

from telehub.readings import StoredReading


def evaluate(conn: psycopg.Connection, readings: Sequence[StoredReading], *,
             now: datetime | None = None) -> None:
    """Evaluate the rules for the patients `readings` touched, in the caller's transaction."""
    return None
