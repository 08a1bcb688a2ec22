"""The writer thread: drains the inbox in batches, stores each in one transaction, then acks."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from alerts import engine, wakeup
from ingest.batch_store import BatchOutcome, Evaluate, store_batch
from ingest.counters import DB_RETRIES, IngestStats
from ingest.events import store_events
from ingest.rejections import reject_unstorable
from ingest.work_queue import (
    Barrier,
    Control,
    EventsWork,
    MessageWork,
    Received,
    Stop,
    WorkQueue,
)
from telehub.config import Settings

logger = logging.getLogger(__name__)

# Back-off while the database is unreachable: first retry soon, then every 5 s. Longer
# waits would add to the pool's own reconnect back-off and delay alerts after an outage;
# a failing attempt every 5 s costs nothing.
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 5.0
# How long a batch waits for a pooled connection before it counts as a retry. The pool
# checks each connection before handing it out, so with the database gone the writer
# waits here rather than failing on a dead connection; 5 s keeps the retry counter and the
# log saying so within seconds of an outage, not after the pool's 30 s timeout.
CONNECTION_WAIT_S = 5.0


class BatchWriter:
    """One thread that turns queued work into committed transactions, then acks the messages."""

    def __init__(self, settings: Settings, pool: ConnectionPool, work: WorkQueue,
                 ack: Callable[[Sequence[Received]], None], stats: IngestStats,
                 evaluate: Evaluate = engine.evaluate) -> None:
        self._settings = settings
        self._pool = pool
        self._work = work
        self._ack = ack
        self._stats = stats
        self._evaluate = evaluate
        self._stop = threading.Event()   # stop() was called: give up waiting for the database
        self._thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Commit and ack what is queued before now, then stop the thread."""
        self._work.put(Stop())
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
        """Take, store and ack one batch, then obey its control item; False when it is time
        to stop."""
        limits = self._settings.ingest
        taken = self._work.take(max_items=limits.batch_max, wait_s=limits.batch_wait_ms / 1000)
        if taken.messages and not self._commit(taken.messages):
            return False  # stopping while the database is down: the broker redelivers
        self._stats.maybe_log()
        return self._obey(taken.control)

    def _commit(self, work: Sequence[MessageWork]) -> bool:
        """Store one batch and ack its messages; False if told to stop before it committed."""
        outcome = self._store_with_retry(work)
        if outcome is None:
            return False
        batch = [w.message for w in work]
        self._ack(batch)
        self._stats.add_batch(stored=len(outcome.stored), duplicates=outcome.duplicates,
                              rejected=outcome.rejected, started=min(m.arrived for m in batch))
        return True

    @staticmethod
    def _obey(control: Control | None) -> bool:
        """Act on a control item (everything before it is committed); False on Stop."""
        if isinstance(control, Barrier):
            control.done.set()
        return not isinstance(control, Stop)

    def _store_with_retry(self, batch: Sequence[MessageWork]) -> BatchOutcome | None:
        """Commit the batch, retrying while the database is unreachable; None if told to stop."""
        delay = RETRY_FIRST_S
        while True:
            try:
                return self._store(batch)
            except PoolTimeout:
                # Already waited CONNECTION_WAIT_S: wait on the pool again at once, which
                # hands over the first connection to a primary as soon as there is one.
                DB_RETRIES.inc()
                logger.warning("database unavailable: no connection within %.0f s; %d "
                               "message(s) kept unacked, still waiting", CONNECTION_WAIT_S,
                               len(batch))
                pause = 0.0
            except (psycopg.OperationalError, psycopg.InterfaceError) as err:
                DB_RETRIES.inc()
                pause, delay = delay, min(delay * 2, RETRY_MAX_S)
                logger.warning("database unavailable (%s); %d message(s) kept unacked, retrying "
                               "in %.1f s", type(err).__name__, len(batch), pause)
            except Exception:
                # Not the connection: something in this batch cannot be stored. Find which
                # message by storing them one at a time; the good ones must not wait.
                logger.exception("batch of %d message(s) failed; storing them one by one",
                                 len(batch))
                return self._store_separately(batch)
            if self._stop.wait(pause):
                return None

    def _store(self, batch: Sequence[MessageWork]) -> BatchOutcome:
        prefix = self._settings.topic_root
        events = [w.message for w in batch if isinstance(w, EventsWork)]
        others = [w.message for w in batch if not isinstance(w, EventsWork)]
        with self._pool.connection(timeout=CONNECTION_WAIT_S) as conn, \
                conn.pipeline() as pipeline:
            # Pipeline mode: statements whose results the batch does not read travel with
            # the next one it does (the device update with the rules' first queries, the
            # alert's events and outbox row with the rules' sync, the savepoint's release
            # with COMMIT), so a lone red reading's transaction waits for the server 10
            # times instead of 21.
            wakeup.begin(conn)
            outcome = (store_batch(conn, others, limits=self._settings.ingest, prefix=prefix,
                                   evaluate=self._evaluate, pipeline=pipeline)
                       if others else BatchOutcome())
            if events:
                # Telecare events in the same transaction: their red alert and its outbox
                # row commit with the batch, and the messages are acked after that.
                found = store_events(conn, events, prefix=prefix, limits=self._settings.ingest,
                                     zone=self._settings.zone)
                outcome.rejected.update(found.rejected)
            conn.commit()
        # Committed: this process's notifier plans the new outbox rows now, not on NOTIFY.
        wakeup.committed(conn)
        return outcome

    def _store_separately(self, batch: Sequence[MessageWork]) -> BatchOutcome | None:
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

    def _keep_unstorable(self, work: MessageWork) -> BatchOutcome | None:
        """Record a message no transaction can store, whole, so it is acked but not lost."""
        delay = RETRY_FIRST_S
        while True:
            try:
                with self._pool.connection(timeout=CONNECTION_WAIT_S) as conn:
                    reject_unstorable(conn, work.message, prefix=self._settings.topic_root,
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
