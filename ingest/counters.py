"""Ingest health: Prometheus counters, and a one-line summary logged every minute."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter as Tally

from prometheus_client import Counter, Histogram

logger = logging.getLogger(__name__)

RECEIVED = Counter("telehub_ingest_messages_received", "MQTT messages received")
STORED = Counter("telehub_ingest_readings_stored", "Readings stored for the first time")
DUPLICATES = Counter("telehub_ingest_readings_duplicate",
                     "Valid readings already stored (redelivery or resend)")
REJECTED = Counter("telehub_ingest_rejected", "Messages or readings refused", ["reason"])
BATCHES = Counter("telehub_ingest_batches", "Transactions committed by the writer")
DB_RETRIES = Counter("telehub_ingest_db_retries", "Batches retried after a database failure")
ALERT_ERRORS = Counter("telehub_ingest_alert_errors",
                       "Batches whose rule evaluation failed (readings still stored)")
BATCH_SECONDS = Histogram("telehub_ingest_batch_seconds",
                          "From the first message of a batch arriving to its commit",
                          buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))

# The summary line is logged at most this often.
SUMMARY_INTERVAL_S = 60.0


class IngestStats:
    """Running totals of this process (also fed to Prometheus), summarised in one log line."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.received = 0
        self.stored = 0
        self.duplicates = 0
        self.batches = 0
        self.rejected: Tally[str] = Tally()
        self._last_summary = time.monotonic()

    def add_received(self, n: int = 1) -> None:
        """Messages taken off the broker."""
        with self._lock:
            self.received += n
        RECEIVED.inc(n)

    def add_batch(self, *, stored: int, duplicates: int, rejected: Tally[str],
                  started: float) -> None:
        """One committed batch (`started` is the monotonic time its first message arrived)."""
        with self._lock:
            self.stored += stored
            self.duplicates += duplicates
            self.batches += 1
            self.rejected.update(rejected)
        STORED.inc(stored)
        DUPLICATES.inc(duplicates)
        BATCHES.inc()
        for reason, n in rejected.items():
            REJECTED.labels(reason).inc(n)
        BATCH_SECONDS.observe(max(0.0, time.monotonic() - started))

    def summary(self) -> str:
        """The one-line summary of the totals."""
        with self._lock:
            rejected = sum(self.rejected.values())
            top = ", ".join(f"{r}={n}" for r, n in self.rejected.most_common(5))
            return (f"ingest: received={self.received} stored={self.stored} "
                    f"duplicates={self.duplicates} rejected={rejected}"
                    f"{f' ({top})' if top else ''} batches={self.batches}")

    def maybe_log(self) -> None:
        """Log the summary if a minute has passed since the last one."""
        now = time.monotonic()
        if now - self._last_summary >= SUMMARY_INTERVAL_S:
            self._last_summary = now
            logger.info("%s", self.summary())
