"""The writer thread: drains the inbox in batches, stores each in one transaction, then acks."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence

import psycopg
from psycopg_pool import ConnectionPool

from alerts import engine
from ingest.counters import DB_RETRIES, IngestStats
from ingest.events import is_events_topic, store_events
from ingest.writer import BatchOutcome, Evaluate, Received, reject_unstorable, store_batch
from telehub.config import Settings

logger = logging.getLogger(__name__)

# Back-off while the database is unreachable: first retry soon, then every 5 s. Longer
# waits would add to the pool's own reconnect back-off and delay alerts after an outage;
# a failing attempt every 5 s costs nothing.
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 5.0
# How long the thread waits for a first message before checking whether it should stop.
IDLE_POLL_S = 0.2
# A batch also closes at this many payload bytes: a store-and-forward message may carry
# 10,000 readings, and a thousand of those must not become one transaction.
BATCH_MAX_BYTES = 4_000_000


def take_batch(inbox: queue.Queue[Received], *, max_items: int, wait_s: float,
               max_bytes: int = BATCH_MAX_BYTES, first_timeout: float = IDLE_POLL_S
               ) -> list[Received]:
    """Up to `max_items` messages (or `max_bytes` of payload): waits for a first one, then
    at most `wait_s` for the rest."""
    try:
        batch = [inbox.get(timeout=first_timeout)]
    except queue.Empty:
        return []
    size = len(batch[0].payload)
    deadline = time.monotonic() + wait_s
    while len(batch) < max_items and size < max_bytes:
        remaining = deadline - time.monotonic()
        try:
            batch.append(inbox.get(timeout=remaining) if remaining > 0 else inbox.get_nowait())
        except queue.Empty:
            break
        size += len(batch[-1].payload)
    return batch


class BatchWriter:
    """One thread that turns queued messages into committed transactions, then acks them."""

    def __init__(self, settings: Settings, pool: ConnectionPool, inbox: queue.Queue[Received],
                 ack: Callable[[Sequence[Received]], None], stats: IngestStats,
                 evaluate: Evaluate = engine.evaluate) -> None:
        self._settings = settings
        self._pool = pool
        self._inbox = inbox
        self._ack = ack
        self._stats = stats
        self._evaluate = evaluate
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Flush what is queued (commit and ack it), then stop the thread."""
        self._stop.set()
        if self._thread.ident is None:
            return  # never started
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.warning("ingest writer did not finish within %.0f s; unacked messages "
                           "will be redelivered", timeout)

    @property
    def alive(self) -> bool:
        """True while the writer thread runs."""
        return self._thread.is_alive()

    def _run(self) -> None:
        while True:
            try:
                if not self._step():
                    break
            except Exception:  # the loop must outlive any one failure; unacked means redelivered
                logger.exception("ingest writer failed; going on")
                self._stop.wait(RETRY_FIRST_S)
        logger.info("%s", self._stats.summary())

    def _step(self) -> bool:
        """Take, store and ack one batch; False when it is time to stop."""
        limits = self._settings.ingest
        batch = take_batch(self._inbox, max_items=limits.batch_max,
                           wait_s=limits.batch_wait_ms / 1000)
        if not batch:
            self._stats.maybe_log()
            return not self._stop.is_set()
        outcome = self._store_with_retry(batch)
        if outcome is None:
            return False  # stopping while the database is down: the broker redelivers
        self._ack(batch)
        self._stats.add_batch(stored=len(outcome.stored), duplicates=outcome.duplicates,
                              rejected=outcome.rejected, started=min(m.arrived for m in batch))
        self._stats.maybe_log()
        return True

    def _store_with_retry(self, batch: Sequence[Received]) -> BatchOutcome | None:
        """Commit the batch, retrying while the database is unreachable; None if told to stop."""
        delay = RETRY_FIRST_S
        while True:
            try:
                return self._store(batch)
            except (psycopg.OperationalError, psycopg.InterfaceError) as err:
                DB_RETRIES.inc()
                logger.warning("database unavailable (%s); %d message(s) kept unacked, retrying "
                               "in %.1f s", type(err).__name__, len(batch), delay)
            except Exception:
                # Not the connection: something in this batch cannot be stored. Find which
                # message by storing them one at a time; the good ones must not wait.
                logger.exception("batch of %d message(s) failed; storing them one by one",
                                 len(batch))
                return self._store_separately(batch)
            if self._stop.wait(delay):
                return None
            delay = min(delay * 2, RETRY_MAX_S)

    def _store(self, batch: Sequence[Received]) -> BatchOutcome:
        prefix = self._settings.topic_root
        events = [m for m in batch if is_events_topic(m.topic, prefix)]
        others = [m for m in batch if not is_events_topic(m.topic, prefix)] if events else batch
        with self._pool.connection() as conn:
            outcome = (store_batch(conn, others, limits=self._settings.ingest, prefix=prefix,
                                   evaluate=self._evaluate) if others else BatchOutcome())
            if events:
                # Telecare events in the same transaction: their red alert and its outbox
                # row commit with the batch, and the messages are acked after that.
                found = store_events(conn, events, prefix=prefix, limits=self._settings.ingest,
                                     zone=self._settings.zone)
                outcome.rejected.update(found.rejected)
            return outcome

    def _store_separately(self, batch: Sequence[Received]) -> BatchOutcome | None:
        total = BatchOutcome()
        for message in batch:
            if len(batch) > 1:
                outcome = self._store_with_retry([message])
            else:
                outcome = self._keep_unstorable(message)
            if outcome is None:
                return None
            total.merge(outcome)
        return total

    def _keep_unstorable(self, message: Received) -> BatchOutcome | None:
        """Record a message no transaction can store, whole, so it is acked but not lost."""
        delay = RETRY_FIRST_S
        while True:
            try:
                with self._pool.connection() as conn:
                    reject_unstorable(conn, message, prefix=self._settings.topic_root,
                                      code="storage-error", reason="The hub could not store "
                                      "this message; it is kept whole for replay.")
                outcome = BatchOutcome()
                outcome.rejected["storage-error"] = 1
                return outcome
            except psycopg.OperationalError:
                DB_RETRIES.inc()
            if self._stop.wait(delay):
                return None
            delay = min(delay * 2, RETRY_MAX_S)
