"""The hub's scrape-time gauges: work queue, broker link, database, outbox, readings per team.

Each value is read when Prometheus scrapes, from the running parts or one short query each,
so it is never older than the scrape. Per-team figures carry the team code only: no
patient, device or reading ever becomes a label.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import psycopg
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from psycopg.rows import tuple_row
from psycopg_pool import ConnectionPool, PoolTimeout

from alerts import deliveries
from telehub.domain import clock

logger = logging.getLogger(__name__)

# The service day the team-silence alert watches, on the service's wall clock: community
# nursing teams work days, patients measure in the day, and a quiet night is normal.
SERVICE_DAY_OPENS = time(8)
SERVICE_DAY_CLOSES = time(20)

# A scrape must answer within Prometheus's timeout (10 s by default) even with the database
# gone: wait this long for a connection, then report the database down.
DATABASE_WAIT_S = 2.0

# Per team: how many patients are monitored now (active, with an active device), and the
# time of their latest reading, or when the first of them was enrolled if none has sent one
# yet (so a team that never receives a reading is silent from its start, not invisible).
# Paused, in-hospital and discharged patients are not expected to send and count for neither.
# The latest reading is one index probe per patient and metric
# (readings_patient_metric_time_idx).
TEAM_READINGS_SQL = """
SELECT t.code, count(p.id) AS monitored,
       extract(epoch FROM coalesce(max(l.time), min(p.enrolled_at)))::float8 AS last
FROM teams t
LEFT JOIN patients p ON p.team_id = t.id AND p.status = 'active'
     AND EXISTS (SELECT 1 FROM devices d WHERE d.patient_id = p.id AND d.active)
LEFT JOIN LATERAL (
    SELECT max(x.time) AS time
    FROM unnest(enum_range(NULL::metric)) AS m(metric)
    CROSS JOIN LATERAL (SELECT r.time FROM readings r
                        WHERE r.patient_id = p.id AND r.metric = m.metric
                        ORDER BY r.time DESC LIMIT 1) AS x) AS l ON true
GROUP BY t.code ORDER BY t.code
"""


@dataclass(frozen=True)
class ServiceDay:
    """Today's service day and the close of the one before it, as UTC instants."""

    opens: datetime
    closes: datetime
    previous_close: datetime


def service_day(now: datetime, zone: ZoneInfo) -> ServiceDay:
    """The service day of `now`'s local date (08:00-20:00 there) and the previous day's
    close: the night between them is 12 h, or 11 h and 13 h on the clock-change nights."""
    day = clock.service_date(now, zone)

    def at(on: date, hour: time) -> datetime:
        return clock.as_utc(datetime.combine(on, hour, tzinfo=zone))

    return ServiceDay(at(day, SERVICE_DAY_OPENS), at(day, SERVICE_DAY_CLOSES),
                      at(day - timedelta(days=1), SERVICE_DAY_CLOSES))


class Backlog(Protocol):
    """What the gauges read from the consumer and the queue."""

    def backlog(self) -> tuple[int, float]: ...


class Depth(Protocol):
    """The writer's work queue."""

    def qsize(self) -> int: ...


class Connected(Protocol):
    """An event that is set while the broker connection is up."""

    def is_set(self) -> bool: ...


class HubGauges(Collector):
    """Collected on each scrape of the hub's /metrics."""

    def __init__(self, pool: ConnectionPool, *, queue: Depth, consumer: Backlog,
                 connected: Connected, timezone: str) -> None:
        self._pool = pool
        self._queue = queue
        self._consumer = consumer
        self._connected = connected
        self._zone = clock.service_zone(timezone)

    def describe(self) -> list[Metric]:
        """Nothing up front: the registry must not collect (and query) at registration."""
        return []

    def collect(self) -> Iterator[Metric]:
        """The gauges, read now."""
        yield from self._process()
        yield from self._database()

    def _process(self) -> Iterator[Metric]:
        unacked, oldest = self._consumer.backlog()
        yield _gauge("telehub_ingest_queue_depth",
                     "Messages and control items waiting for the writer thread",
                     self._queue.qsize())
        yield _gauge("telehub_ingest_unacked_messages",
                     "Messages taken off the broker and not yet committed and acked", unacked)
        yield _gauge("telehub_ingest_oldest_unacked_seconds",
                     "Age of the oldest message taken off the broker and not yet committed "
                     "(0: none waiting)", oldest)
        yield _gauge("telehub_mqtt_connected",
                     "1 while the ingest consumer is connected and subscribed to the broker",
                     1 if self._connected.is_set() else 0)
        # Prometheus's clock and hour() are UTC: the rules take the service day's bounds
        # from here, worked out on the London calendar.
        today = service_day(clock.now(), self._zone)
        yield _gauge("telehub_service_day_opens_timestamp_seconds",
                     "When today's service day opens (08:00 service time), as a Unix time",
                     today.opens.timestamp())
        yield _gauge("telehub_service_day_closes_timestamp_seconds",
                     "When today's service day closes (20:00 service time), as a Unix time",
                     today.closes.timestamp())
        yield _gauge("telehub_service_day_previous_close_timestamp_seconds",
                     "When yesterday's service day closed (20:00 service time), as a Unix time",
                     today.previous_close.timestamp())

    def _database(self) -> Iterator[Metric]:
        try:
            with self._pool.connection(timeout=DATABASE_WAIT_S) as conn:
                oldest = deliveries.oldest_undelivered_s(conn)
                pending = deliveries.undelivered(conn)
                teams = conn.cursor(row_factory=tuple_row).execute(TEAM_READINGS_SQL).fetchall()
        except (PoolTimeout, psycopg.Error) as err:
            logger.warning("metrics: database unavailable (%s)", type(err).__name__)
            yield _gauge("telehub_database_up", "1 when the hub's database answers", 0)
            return
        yield _gauge("telehub_database_up", "1 when the hub's database answers", 1)
        yield _gauge("telehub_outbox_undelivered",
                     "Alert notifications not yet planned plus deliveries not yet made", pending)
        yield _gauge("telehub_outbox_oldest_undelivered_seconds",
                     "How long the oldest notification still to send has waited (0: none)",
                     oldest)
        monitored = GaugeMetricFamily(
            "telehub_team_monitored_patients",
            "Active patients with an active device, per team code", labels=["team"])
        last = GaugeMetricFamily(
            "telehub_team_last_reading_timestamp_seconds",
            "Time of the latest reading from the team's monitored patients (their first "
            "enrolment when none has sent one yet), per team code", labels=["team"])
        for code, count, at in teams:
            monitored.add_metric([code], count)
            if at is not None:
                last.add_metric([code], at)
        yield monitored
        yield last


def _gauge(name: str, documentation: str, value: Any) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=float(value))
