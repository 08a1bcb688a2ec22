"""Outbox deliveries: one row per channel of each alert event, claimed with a lease, marked alone.

Every function here is one short transaction of the caller's: nothing is sent while a row
lock is held. A claim takes due rows with FOR UPDATE SKIP LOCKED, counts the attempt and
moves `next_attempt_at` to the end of the lease, so a sender that dies mid-send leaves its
deliveries to come due again; the result is written by a later transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg.rows import dict_row, tuple_row

MQTT = "mqtt"
WEBHOOK = "webhook"

_PLAN_SQL = """
WITH due AS (
    SELECT id FROM outbox WHERE planned_at IS NULL ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED
), planned AS (
    UPDATE outbox o SET planned_at = now() FROM due WHERE o.id = due.id RETURNING o.id
), added AS (
    INSERT INTO outbox_deliveries (outbox_id, channel, destination)
    SELECT p.id, c.channel, c.destination
    FROM planned p CROSS JOIN unnest(%s::text[], %s::text[]) AS c(channel, destination)
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM planned) AS events, (SELECT count(*) FROM added) AS deliveries
"""
_CLAIM_SQL = """
UPDATE outbox_deliveries d
SET attempts = d.attempts + 1, claimed_by = %(claimant)s,
    next_attempt_at = now() + make_interval(secs => %(lease)s)
FROM (SELECT id FROM outbox_deliveries
      WHERE delivered_at IS NULL AND channel = %(channel)s
        AND coalesce(destination, '') = %(destination)s AND next_attempt_at <= now()
      ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED) AS due,
     outbox o
WHERE d.id = due.id AND o.id = d.outbox_id
RETURNING d.id, d.outbox_id, d.attempts, d.destination, o.alert_id, o.team,
          o.severity::text AS severity, o.payload
"""
# A delivery that reached its channel is marked whoever holds it now: it was delivered.
_DELIVERED_SQL = """
UPDATE outbox_deliveries
SET delivered_at = coalesce(delivered_at, now()), last_error = NULL, claimed_by = NULL
WHERE id = ANY(%s)
"""
# A failure is written only under the claim it belongs to: a sender whose lease ran out
# must not push back a delivery another sender has claimed since.
_FAILED_SQL = """
UPDATE outbox_deliveries d
SET last_error = f.error, claimed_by = NULL,
    next_attempt_at = now() + make_interval(secs => f.delay)
FROM unnest(%s::bigint[], %s::text[], %s::float8[]) AS f(id, error, delay)
WHERE d.id = f.id AND d.claimed_by = %s AND d.delivered_at IS NULL
"""
_RELEASE_SQL = """
UPDATE outbox_deliveries SET next_attempt_at = now(), claimed_by = NULL
WHERE delivered_at IS NULL AND starts_with(claimed_by, %s)
"""
_PENDING_WEBHOOKS_SQL = """
SELECT DISTINCT destination FROM outbox_deliveries
WHERE delivered_at IS NULL AND channel = 'webhook' ORDER BY destination
"""
# What is still to send: events not yet planned plus deliveries not yet made.
UNDELIVERED_SQL = """
SELECT (SELECT count(*) FROM outbox WHERE planned_at IS NULL)
     + (SELECT count(*) FROM outbox_deliveries WHERE delivered_at IS NULL)
"""
# How long the oldest event still to send has waited, in seconds (NULL when none): an event
# not yet planned, or one with a delivery not yet made on some channel. Both halves use the
# partial indexes on what is still to do.
OLDEST_UNDELIVERED_SQL = """
SELECT extract(epoch FROM now() - least(
    (SELECT min(created_at) FROM outbox WHERE planned_at IS NULL),
    (SELECT min(o.created_at) FROM outbox_deliveries d JOIN outbox o ON o.id = d.outbox_id
     WHERE d.delivered_at IS NULL)))::float8
"""


@dataclass(frozen=True)
class Lane:
    """One channel and destination: its deliveries are sent in order by one sender."""

    channel: str
    destination: str | None = None     # the webhook URL; None for MQTT

    @property
    def label(self) -> str:
        """How logs name it: the webhook's host and port only (a URL may carry a token)."""
        if self.destination is None:
            return self.channel
        parts = urlsplit(self.destination)
        return f"{self.channel} {parts.hostname}:{parts.port or ''}".rstrip(":")


@dataclass(frozen=True)
class Claimed:
    """A delivery claimed for sending, with the event it carries."""

    id: int
    outbox_id: int                     # the idempotency key: one per alert event
    alert_id: int | None
    team: str
    severity: str
    payload: dict[str, Any]
    attempts: int                      # including this one
    destination: str | None


@dataclass(frozen=True)
class Failure:
    """A claimed delivery that did not reach its channel, and when to try it again."""

    id: int
    error: str
    retry_in_s: float


def plan(conn: psycopg.Connection, lanes: Sequence[Lane], limit: int) -> int:
    """Give up to `limit` unplanned events a delivery per lane; returns how many events."""
    row = conn.cursor(row_factory=tuple_row).execute(
        _PLAN_SQL, (limit, [lane.channel for lane in lanes],
                    [lane.destination for lane in lanes])).fetchone()
    assert row is not None
    return int(row[0])


def claim(conn: psycopg.Connection, lane: Lane, claimant: str, limit: int, lease_s: float
          ) -> list[Claimed]:
    """Claim up to `limit` of the lane's due deliveries, oldest first, for `lease_s` seconds."""
    rows = conn.cursor(row_factory=dict_row).execute(_CLAIM_SQL, {
        "claimant": claimant, "lease": lease_s, "channel": lane.channel,
        "destination": lane.destination or "", "limit": limit}).fetchall()
    return sorted((Claimed(**row) for row in rows), key=lambda c: c.id)


def mark_delivered(conn: psycopg.Connection, ids: Iterable[int]) -> None:
    """Record that these deliveries reached their channel."""
    found = list(ids)
    if found:
        conn.execute(_DELIVERED_SQL, (found,))


def mark_failed(conn: psycopg.Connection, failures: Sequence[Failure], claimant: str) -> None:
    """Record these failures of `claimant`'s claim and when each may be tried again."""
    if failures:
        conn.execute(_FAILED_SQL, ([f.id for f in failures], [f.error[:500] for f in failures],
                                   [f.retry_in_s for f in failures], claimant))


def release(conn: psycopg.Connection, sender: str) -> int:
    """Make the claims of an earlier run of `sender` due now (it died; it sent nothing more);
    returns how many."""
    return conn.execute(_RELEASE_SQL, (f"{sender}#",)).rowcount


def pending_webhooks(conn: psycopg.Connection) -> list[str]:
    """Webhook URLs with deliveries still to make (some may have left the settings since)."""
    return [r[0] for r in conn.cursor(row_factory=tuple_row).execute(_PENDING_WEBHOOKS_SQL)]


def undelivered(conn: psycopg.Connection) -> int:
    """Events not yet planned plus deliveries not yet made."""
    row = conn.cursor(row_factory=tuple_row).execute(UNDELIVERED_SQL).fetchone()
    assert row is not None
    return int(row[0])


def oldest_undelivered_s(conn: psycopg.Connection) -> float:
    """Seconds the oldest event still to send has waited (0 when everything is delivered)."""
    row = conn.cursor(row_factory=tuple_row).execute(OLDEST_UNDELIVERED_SQL).fetchone()
    return float(row[0]) if row is not None and row[0] is not None else 0.0
