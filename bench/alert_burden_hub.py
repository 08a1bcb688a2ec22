"""The alert-burden benchmark's `hub` variant: the caseload's readings published over MQTT to a
real `telehub hub`, the scheduler run by the benchmark at the simulated hour."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from bench.alert_burden import (
    Burden,
    BurdenSizes,
    caseload_readings,
    collect,
    drive,
    plan_caseload,
    register_caseload,
    window,
)
from bench.databases import connect
from telehub.config import Settings
from telehub.domain.units import Metric
from telehub.mqtt import topics


def simulate_through_hub(url: str, sizes: BurdenSizes, log_dir: Path, *,
                         end: datetime | None = None) -> Burden:
    """The hub variant on database `url` (empty, migrated): readings published over MQTT to a
    real `telehub hub`, the scheduler run by the benchmark at the simulated hour."""
    from bench.ingest import hub_env
    from bench.load import Message, Publisher
    from bench.processes import HubWatcher, Service, own_broker, start_service, stop_services
    from device_simulators.payloads import encode_reading, reading_item

    started = time.perf_counter()
    start, end = window(sizes.days, end)
    plan = plan_caseload(sizes)
    units = {d.device_id: d.unit for p in plan for d in p.simulation.devices}
    settings = Settings(database_url=url)
    with connect(url) as conn:
        caseload = register_caseload(conn, plan, start, end)
        conn.commit()
        readings = caseload_readings(plan, sizes.seed, start, end)
        burden = Burden("hub", sizes.patients, sizes.days, readings=len(readings),
                        scenarios=caseload.scenarios)
        # The hub's own scheduler would run at wall-clock time (and, at start-up, find 30 days
        # of missing readings): this pool's one connection holds its lock for the whole run.
        pool = _scheduler_lock_pool(url)
        prefix = f"bench/{uuid.uuid4().hex[:12]}/telehub/v1"
        with own_broker() as endpoint:
            watcher = HubWatcher(endpoint, prefix)
            watcher.start()
            publisher = Publisher(endpoint, "burden")
            publisher.start()
            services: list[Service] = []
            try:
                client_id = f"bench-hub-burden-{uuid.uuid4().hex[:6]}"
                env = hub_env(url, endpoint, prefix, client_id, shared=False) | {
                    "TELEHUB_INGEST__HORIZON_DAYS": str(sizes.days + 2),
                    "TELEHUB_ALERTS__ACUTE_FRESHNESS_HOURS": str(24 * (sizes.days + 2))}
                services.append(start_service("hub", ["hub"], env, log_dir))
                watcher.wait_online([client_id], prefix, services)
                sent = 0

                def deliver(batch: list[Any], t: datetime) -> None:
                    nonlocal sent
                    publisher.publish_all(_messages(batch, units, prefix, Message,
                                                    reading_item, encode_reading))
                    sent += len(batch)
                    _wait_stored(conn, sent, sizes.stall_s, services[0])

                drive(conn, pool, settings, readings, start, end, deliver)
            except (TimeoutError, RuntimeError) as err:
                burden.error = str(err)
            finally:
                stop_services(services)
                publisher.stop()
                watcher.stop()
                pool.close()
        burden.seconds = time.perf_counter() - started
        return collect(conn, burden)


def _messages(batch: list[Any], units: dict[str, Any], prefix: str, message: Any,
              item: Any, encode: Any) -> Iterator[Any]:
    for seq, m in enumerate(batch):
        yield message(topics.readings_topic(m.device_id, prefix),
                      encode(item(m, units[m.device_id], seq, 90)))


def _scheduler_lock_pool(url: str) -> ConnectionPool:
    """A one-connection pool whose connection holds the scheduler's advisory lock (session
    level), so the bench's Scheduler runs and the hub's finds the lock taken."""
    from psycopg.rows import dict_row

    from alerts.scheduler import SCHEDULER_LOCK_KEY

    def hold(conn: psycopg.Connection[Any]) -> None:
        conn.execute("SELECT pg_advisory_lock(%s)", (SCHEDULER_LOCK_KEY,))
        conn.commit()

    pool = ConnectionPool(url, min_size=1, max_size=1, open=False, configure=hold,
                          kwargs={"row_factory": dict_row}, name="burden-scheduler")
    pool.open(wait=True, timeout=30)
    return pool


def _wait_stored(conn: psycopg.Connection[Any], expected: int, stall_s: float,
                 hub: Any) -> None:
    """Wait until the hub has stored `expected` measurements (pulse not counted)."""
    last, last_change = -1, time.monotonic()
    while True:
        row = conn.execute("SELECT count(*) AS n FROM readings WHERE metric <> %s",
                           (Metric.PULSE.value,)).fetchone()
        conn.commit()
        n = int(row["n"]) if row else 0
        if n >= expected:
            return
        now = time.monotonic()
        if n != last:
            last, last_change = n, now
        if not hub.alive():
            raise RuntimeError(f"the hub exited: {hub.tail(5)}")
        if now - last_change > stall_s:
            raise TimeoutError(f"the hub stored {n} of {expected} readings and then nothing "
                               f"for {stall_s:.0f} s")
        time.sleep(0.02)
