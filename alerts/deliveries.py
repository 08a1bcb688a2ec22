"""Outbox deliveries: one row per channel of each alert event, claimed with a lease, marked alone.

Every function here is one short transaction of the caller's: nothing is sent while a row
lock is held. A claim takes due rows with FOR UPDATE SKIP LOCKED, counts the attempt and
moves `next_attempt_at` to the end of the lease, so a sender that dies mid-send leaves its
deliveries to come due again; the result is written by a later transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg.rows import dict_row, tuple_row

MQTT = "mqtt"
WEBHOOK = "webhook"

# Each lane's delivery of each new event; a lane marked `claim` gets its delivery already
# claimed (counted as an attempt, leased to the claimant), so a sender that is ready sends
# it with no claim transaction of its own. The first row carries the events planned; the
# rows carry the claimed deliveries, if any.
_PLAN_SQL = """
WITH due AS (
    SELECT id FROM outbox WHERE planned_at IS NULL ORDER BY id LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), planned AS (
    UPDATE outbox o SET planned_at = now() FROM due WHERE o.id = due.id
    RETURNING o.id, o.alert_id, o.team, o.severity, o.payload
), added AS (
    INSERT INTO outbox_deliveries (outbox_id, channel, destination, attempts, claimed_by,
                                   next_attempt_at)
    SELECT p.id, c.channel, c.destination, CASE WHEN c.claim THEN 1 ELSE 0 END,
           CASE WHEN c.claim THEN %(claimant)s::text END,
           CASE WHEN c.claim THEN now() + make_interval(secs => %(lease)s) ELSE now() END
    FROM planned p
    CROSS JOIN unnest(%(channels)s::text[], %(destinations)s::text[], %(claims)s::bool[])
               AS c(channel, destination, claim)
    ON CONFLICT DO NOTHING
    RETURNING id, outbox_id, attempts, destination, claimed_by
)
SELECT n.events, a.id, a.outbox_id, a.attempts, a.destination, p.alert_id, p.team,
       p.severity::text AS severity, p.payload
FROM (SELECT count(*) AS events FROM planned) AS n
LEFT JOIN (added a JOIN planned p ON p.id = a.outbox_id) ON a.claimed_by IS NOT NULL
ORDER BY a.id
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
    return plan_claiming(conn, lanes, limit)()[0]


def plan_claiming(conn: psycopg.Connection, lanes: Sequence[Lane], limit: int,
                  claim: Lane | None = None, claimant: str = "", lease_s: float = 0.0
                  ) -> Callable[[], tuple[int, list[Claimed]]]:
    """Plan as `plan` does, `claim`'s deliveries claimed for `claimant` for `lease_s`
    seconds in the same statement. The statement is sent now and read when the returned
    function is called: in pipeline mode the caller's COMMIT can travel with it."""
    cur = conn.cursor(row_factory=tuple_row).execute(_PLAN_SQL, {
        "limit": limit, "claimant": claimant, "lease": lease_s,
        "channels": [lane.channel for lane in lanes],
        "destinations": [lane.destination for lane in lanes],
        "claims": [lane == claim for lane in lanes]})

    def read() -> tuple[int, list[Claimed]]:
        rows = cur.fetchall()
        claimed = [Claimed(id=i, outbox_id=o, attempts=a, destination=d, alert_id=al, team=t,
                           severity=sv, payload=pl)
                   for _, i, o, a, d, al, t, sv, pl in rows if i is not None]
        return int(rows[0][0]), claimed

    return read


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
