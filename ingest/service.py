"""The hub process's composition root: pool, ingest consumer and writer, notifier, scheduler."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Any, Protocol

from prometheus_client import REGISTRY
from psycopg_pool import ConnectionPool

from alerts import engine
from alerts.notifier import Notifier
from alerts.scheduler import Scheduler
from ingest.batch_store import Evaluate
from ingest.consumer import Consumer
from ingest.counters import IngestStats
from ingest.gauges import HubGauges
from ingest.work_queue import Barrier, Flush, WorkQueue
from ingest.writer import BatchWriter
from telehub.config import Settings
from telehub.db.pool import open_pool

logger = logging.getLogger(__name__)


class Startable(Protocol):
    """Anything the hub starts and stops (notifier, scheduler)."""

    def start(self) -> None: ...
    def stop(self) -> None: ...


class Ingest:
    """Consumer and batch writer wired through one work queue; start, then stop in reverse."""

    def __init__(self, settings: Settings, pool: ConnectionPool,
                 evaluate: Evaluate = engine.evaluate) -> None:
        self.stats = IngestStats()
        self.work = WorkQueue()
        self.consumer = Consumer(settings, self.work, self.stats)
        self.writer = BatchWriter(settings, pool, self.work, self.consumer.ack, self.stats,
                                  evaluate=evaluate)

    def start(self) -> None:
        """Start the writer, then connect."""
        self.writer.start()
        self.consumer.start()

    def flush(self) -> None:
        """Commit what is queued now instead of waiting for the batch to fill."""
        self.work.put(Flush())

    def barrier(self, timeout: float = 15.0) -> bool:
        """Wait until every message queued before now is committed and acked; False on
        timeout (or when the writer stops first)."""
        barrier = Barrier()
        self.work.put(barrier)
        return barrier.done.wait(timeout)

    def gauges(self, pool: ConnectionPool, settings: Settings) -> HubGauges:
        """The scrape-time gauges of this ingest (queue, backlog, broker link) and the database."""
        return HubGauges(pool, queue=self.work, consumer=self.consumer,
                         connected=self.consumer.connected, timezone=settings.timezone)

    def stop(self) -> None:
        """Stop taking messages, commit and ack what is queued, then disconnect."""
        self.consumer.stop_accepting()
        self.writer.stop()
        self.consumer.stop()


def alert_services(settings: Settings, pool: ConnectionPool) -> list[Startable]:
    """The outbox notifier and the scheduler, started after ingest."""
    # The notifier's id follows the worker's, so a restarted worker takes back its claims.
    return [Notifier(settings, pool, client_id=f"{settings.ingest.client_id}-notifier"),
            Scheduler(settings, pool)]


def start_metrics_endpoint(port: int) -> Any:
    """Serve Prometheus metrics on localhost:`port` (0: off); a busy port is logged, not fatal."""
    if not port:
        return None
    from prometheus_client import start_http_server

    try:
        server, _thread = start_http_server(port, addr="127.0.0.1")
    except OSError as err:
        logger.warning("metrics endpoint not started on port %d: %s", port, err)
        return None
    logger.info("metrics on http://127.0.0.1:%d/metrics", port)
    return server


def run(settings: Settings) -> int:
    """Run the hub until SIGTERM/SIGINT; returns the process exit code."""
    stop = threading.Event()

    def _request_stop(signum: int, frame: FrameType | None) -> None:
        logger.info("signal %d: stopping the hub", signum)
        stop.set()

    previous = {sig: signal.signal(sig, _request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    pool = open_pool(settings.require_database_url(), max_size=settings.db_pool_max,
                     name="telehub-hub")
    metrics_server = None
    gauges: HubGauges | None = None
    ingest: Ingest | None = None
    started: list[Startable] = []
    code = 0
    try:
        # Built before ingest starts: a refused setting (a retention policy shorter than the
        # rules need) stops the hub before it takes a message.
        services = alert_services(settings, pool)
        ingest = Ingest(settings, pool)
        gauges = ingest.gauges(pool, settings)
        REGISTRY.register(gauges)
        metrics_server = start_metrics_endpoint(settings.ingest.metrics_port)
        ingest.start()
        for service in services:
            service.start()
            started.append(service)
        logger.info("hub running (worker %s)", settings.ingest.client_id)
        while not stop.wait(0.5):
            if ingest.consumer.failed.is_set() or not ingest.writer.alive:
                code = 1
                break
    finally:
        for service in reversed(started):
            service.stop()
        if ingest is not None:
            ingest.stop()
        if metrics_server is not None:
            metrics_server.shutdown()
        if gauges is not None:
            REGISTRY.unregister(gauges)
        pool.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    logger.info("hub stopped")
    return code
