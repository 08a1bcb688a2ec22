"""`telehub bench ingest`: sustained readings/s from MQTT into PostgreSQL, with its baselines.

Every variant receives the same readings (from many devices, QoS 1) on a broker of
the benchmark's own and is timed from the first publish to the last reading stored:
(a) the broker relaying to a subscriber that stores nothing, (b) a consumer doing one
INSERT + COMMIT per message, (c) the real hub, one process and then two on a shared
subscription. Lost and duplicated readings are counted for each; both must be zero.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.databases import connect, recreate_database
from bench.history import load_readings
from bench.load import CountingSubscriber, readings_messages
from bench.naive_consumer import PerMessageConsumer
from bench.population import register_population
from bench.processes import (
    HubWatcher,
    RssSampler,
    Service,
    backend_cpu_seconds,
    command_available,
    local_postgres_pid,
    own_broker,
    start_service,
    stop_services,
)
from bench.report import Report, ratio
from bench.wire import WirePublisher, WireSubscriber
from telehub.config import MqttEndpoint
from telehub.mqtt import topics


@dataclass(frozen=True)
class IngestSizes:
    """How many devices publish how many readings each, and which hub counts to run."""

    devices: int = 1000
    per_device: int = 100
    hubs: tuple[int, ...] = (1, 2)
    stall_s: float = 30.0          # give up when nothing new is stored for this long
    # Broker persistence for further hub × 1 runs: "30s" (timer) or N (after N changes);
    # the main runs use a broker that keeps its state in memory only.
    broker_saves: tuple[str, ...] = ()
    # Days of readings every patient already has (bench/history.py: a weight, two oximeter
    # and, for diabetics, two glucose readings a day) before the run: the rules then read
    # a service's depth of history. 365: a patient-year.
    history_days: int = 0
    # Another source tree of Telehub (e.g. `git archive main | tar -x -C DIR`) to run a
    # hub × 1 from as well, in the same run: the code before a change as a baseline.
    reference: str | None = None

    @property
    def total(self) -> int:
        """Readings published per variant."""
        return self.devices * self.per_device


FULL = IngestSizes()
QUICK = IngestSizes(devices=200, per_device=50)

# The database server's track in the hub variants' process sampler.
_POSTGRES = "postgresql"
COLUMNS = ["variant", "stored", "seconds", "readings_per_s", "lost", "duplicated", "rejected",
           "publish_per_s", "hub_cores", "hub_cpu_us_per_reading", "postgres_cpu_us_per_reading"]


@dataclass(frozen=True)
class Outcome:
    """One variant's result."""

    variant: str
    stored: int
    distinct: int
    seconds: float
    publish_s: float
    extra: dict[str, Any]
    poll_cpu_s: float = 0.0       # PostgreSQL CPU of the bench's own polling backend

    def row(self, total: int) -> dict[str, Any]:
        """The table row."""
        return {
            "variant": self.variant, "stored": self.distinct,
            "seconds": round(self.seconds, 3),
            "readings_per_s": round(self.distinct / self.seconds, 1) if self.seconds else None,
            "lost": total - self.distinct, "duplicated": self.stored - self.distinct,
            "publish_per_s": round(total / self.publish_s, 1) if self.publish_s else None,
            **self.extra,
        }


def run(admin_url: str, sizes: IngestSizes, *, database: str = "telehub_bench_ingest",
        baselines: bool = True) -> Report:
    """Run the baselines and the hub variants; return the report."""
    report = Report("ingest", params={"devices": sizes.devices, "per_device": sizes.per_device,
                                      "readings": sizes.total, "qos": 1, "hubs": list(sizes.hubs),
                                      "history_days": sizes.history_days,
                                      "database": database},
                    columns=COLUMNS)
    with own_broker() as endpoint, tempfile.TemporaryDirectory(prefix="telehub-bench-") as tmp:
        report.params["broker"] = "mosquitto (own, max_queued_messages 1,000,000)"
        if baselines:
            report.add(**relay_baseline(endpoint, sizes, wire=True).row(sizes.total))
            report.add(**relay_baseline(endpoint, sizes, wire=False).row(sizes.total))
            report.add(**per_message_baseline(endpoint, admin_url, database, sizes
                                              ).row(sizes.total))
        missing = command_available("hub")
        if missing:
            report.notes.append(missing)
        else:
            for n in sizes.hubs:
                url = fresh_database(admin_url, database, sizes)
                outcome = hub_variant(endpoint, url, sizes, processes=n, log_dir=Path(tmp))
                report.add(**outcome.row(sizes.total))
                if "error" in outcome.extra:
                    report.notes.append(f"hub × {n}: {outcome.extra['error']}")
            if sizes.reference:
                report.params["reference"] = sizes.reference
                url = fresh_database(admin_url, database, sizes)
                outcome = hub_variant(endpoint, url, sizes, processes=1, log_dir=Path(tmp),
                                      source=sizes.reference)
                report.add(**_named(outcome, REFERENCE).row(sizes.total))
    if sizes.broker_saves and command_available("hub") is None:
        report.params["broker_saves"] = list(sizes.broker_saves)
        with tempfile.TemporaryDirectory(prefix="telehub-bench-") as tmp:
            for saves in ("off", *sizes.broker_saves):
                # The hub down while every reading queues at the broker, then catching up:
                # each save writes the whole queue, so this is where saving costs most.
                with own_broker(saves) as saving:
                    url = fresh_database(admin_url, database, sizes)
                    backlog = hub_variant(saving, url, sizes, processes=1, log_dir=Path(tmp),
                                          backlog=True)
                report.add(**_named(backlog, f"{saves_variant(saves)}, hub down then back")
                           .row(sizes.total))
                if saves == "off":
                    continue
                with own_broker(saves) as saving:
                    url = fresh_database(admin_url, database, sizes)
                    live = hub_variant(saving, url, sizes, processes=1, log_dir=Path(tmp))
                report.add(**_named(live, saves_variant(saves)).row(sizes.total))
    _ratios(report)
    return report


def saves_variant(saves: str) -> str:
    """The row name of a hub × 1 run on a broker that saves its state (or not: "off")."""
    if saves == "off":
        return "hub × 1, broker state in memory"
    how = "every 30 s" if saves == "30s" else f"every {int(saves):,} changes"
    return f"hub × 1, broker saving {how}"


def _named(outcome: Outcome, variant: str) -> Outcome:
    return Outcome(variant, outcome.stored, outcome.distinct, outcome.seconds,
                   outcome.publish_s, outcome.extra, outcome.poll_cpu_s)


def _ratios(report: Report) -> None:
    rates = {row["variant"]: row.get("readings_per_s") for row in report.rows}
    relay, paho, naive = rates.get(RELAY_WIRE), rates.get(RELAY_PAHO), rates.get(NAIVE)
    hub1, hub2 = rates.get("hub × 1"), rates.get("hub × 2 (shared)")
    report.ratios.update({
        "hub × 1 / INSERT+COMMIT each": ratio(hub1, naive),
        "hub × 1 / relay to paho subscriber": ratio(hub1, paho),
        "hub × 1 / relay to raw subscriber": ratio(hub1, relay),
        "hub × 2 / hub × 1": ratio(hub2, hub1),
        "hub × 2 / relay to paho subscriber": ratio(hub2, paho),
        "hub × 2 / relay to raw subscriber": ratio(hub2, relay),
    })
    accepted = {row["variant"]: row.get("publish_per_s") for row in report.rows}
    down = f"{saves_variant('off')}, hub down then back"
    for saves in report.params.get("broker_saves", []):
        report.ratios[f"{saves_variant(saves)} / hub × 1 (state in memory)"] = ratio(
            rates.get(saves_variant(saves)), hub1)
        report.ratios[f"{saves_variant(saves)}, hub down: readings accepted/s / in memory"] = \
            ratio(accepted.get(f"{saves_variant(saves)}, hub down then back"), accepted.get(down))
    cpu = {row["variant"]: row.get("hub_cpu_us_per_reading") for row in report.rows}
    report.ratios["hub × 1 / reference hub × 1 (readings/s)"] = ratio(hub1, rates.get(REFERENCE))
    report.ratios["hub × 1 / reference hub × 1 (CPU per reading)"] = ratio(
        cpu.get("hub × 1"), cpu.get(REFERENCE))
    report.ratios = {k: v for k, v in report.ratios.items() if v is not None}


def _prefix() -> str:
    return f"bench/{uuid.uuid4().hex[:12]}/telehub/v1"


def _devices(sizes: IngestSizes) -> list[str]:
    return [f"bench-ox-{i:05d}" for i in range(sizes.devices)]


NAIVE = "INSERT+COMMIT each"
REFERENCE = "hub × 1, reference code"
RELAY_WIRE = "broker relay → raw-socket subscriber"
RELAY_PAHO = "broker relay → paho subscriber"


def relay_baseline(endpoint: MqttEndpoint, sizes: IngestSizes, *, wire: bool) -> Outcome:
    """Baseline (b): the broker relaying every reading to a subscriber that stores nothing:
    a raw-socket one (the broker's rate) or a paho one (the hub's MQTT library's rate)."""
    prefix = _prefix()
    messages = readings_messages(_devices(sizes), sizes.per_device, prefix)
    subscription = topics.readings_subscription(prefix)
    subscriber: WireSubscriber | CountingSubscriber
    if wire:
        subscriber = WireSubscriber(endpoint, subscription)
    else:
        subscriber = CountingSubscriber(endpoint, subscription)
        subscriber.start()
    publisher = WirePublisher(endpoint)
    try:
        started = time.perf_counter()
        publisher.publish_all(messages)
        publisher.wait_acked(len(messages))
        published = time.perf_counter()
        subscriber.wait_for(len(messages), stall_s=sizes.stall_s)
        tally = subscriber.tally
        done = tally.last_at or time.perf_counter()
    finally:
        publisher.close()
        if isinstance(subscriber, WireSubscriber):
            subscriber.close()
        else:
            subscriber.stop()
    return Outcome(RELAY_WIRE if wire else RELAY_PAHO, tally.received, len(tally.distinct),
                   done - started, published - started, {})


def per_message_baseline(endpoint: MqttEndpoint, admin_url: str, database: str,
                         sizes: IngestSizes) -> Outcome:
    """Baseline (a): one INSERT and one COMMIT per message."""
    url = fresh_database(admin_url, database, sizes)
    prefix = _prefix()
    consumer = PerMessageConsumer(endpoint, url, prefix)
    consumer.start()
    try:
        outcome = _publish_and_wait(endpoint, url, prefix, sizes, NAIVE,
                                    alive=lambda: not consumer.failed)
    finally:
        consumer.stop()
    return outcome


def hub_variant(endpoint: MqttEndpoint, url: str, sizes: IngestSizes, *, processes: int,
                log_dir: Path, extra_pids: dict[str, int] | None = None,
                backlog: bool = False, source: str | None = None) -> Outcome:
    """The real hub on a fresh database (`fresh_database`): `processes` workers, on a
    shared subscription when more than one. `backlog`: the hub subscribes, stops, every
    reading is published to the broker's queue, then the hub starts again and catches up
    (publish_per_s is then the broker's rate with the hub down; seconds run from the first
    publish to the last reading stored). `source`: run the hub from that source tree."""
    prefix = _prefix()
    client_ids = [f"bench-hub-{i}-{uuid.uuid4().hex[:6]}" for i in range(processes)]
    watcher = HubWatcher(endpoint, prefix)
    watcher.start()
    services: list[Service] = []
    try:
        for i, client_id in enumerate(client_ids):
            services.append(start_service(f"hub-{i}", ["hub"], hub_env(
                url, endpoint, prefix, client_id, shared=processes > 1), log_dir, cwd=source))
        watcher.wait_online(client_ids, prefix, services)
        restart: Callable[[], None] | None = None
        if backlog:
            stop_services(services)        # a clean stop: the hub's session stays subscribed
            env = hub_env(url, endpoint, prefix, client_ids[0], shared=False)

            def restart() -> None:
                services[:] = [start_service("hub-0", ["hub"], env, log_dir)]
        pids = {**{s.name: s.proc.pid for s in services}, **(extra_pids or {})}
        server = local_postgres_pid(url)
        if server is not None:      # the database server's CPU, when it runs on this machine
            pids[_POSTGRES] = server
        with RssSampler(pids) as rss:
            outcome = _publish_and_wait(
                endpoint, url, prefix, sizes,
                "hub × 1" if processes == 1 else f"hub × {processes} (shared)",
                alive=lambda: all(s.alive() for s in services), after_publish=restart)
        dead = [s for s in services if not s.alive()]
        if dead:
            outcome.extra["error"] = f"{dead[0].name} died: {dead[0].tail(5)}"
        outcome.extra["peak_rss_mb"] = round(
            sum(t.peak for n, t in rss.tracks.items() if n.startswith("hub")) / 2**20, 1)
        # CPU cores the hub processes kept busy: near 1 per process means CPU-bound.
        cpu_s = sum(t.cpu_s for n, t in rss.tracks.items() if n.startswith("hub"))
        outcome.extra["hub_cores"] = None if backlog else round(cpu_s / outcome.seconds, 2)
        # Hub CPU (every process, every thread) per reading stored: what the machine's load
        # changes least.
        outcome.extra["hub_cpu_us_per_reading"] = (
            round(cpu_s / outcome.distinct * 1e6, 1) if outcome.distinct else None)
        # PostgreSQL's CPU (the server and every backend alive at the end) per reading
        # stored, the bench's own polling backend left out: what the hub's SQL costs on
        # the same cores.
        server_cpu = rss.tracks.get(_POSTGRES)
        outcome.extra["postgres_cpu_us_per_reading"] = (
            round(max(0.0, server_cpu.cpu_s - outcome.poll_cpu_s) / outcome.distinct * 1e6, 1)
            if server_cpu is not None and outcome.distinct and not backlog else None)
        outcome.extra["memory"] = {n: {"start_mb": round(t.start / 2**20, 1),
                                       "peak_mb": round(t.peak / 2**20, 1)}
                                   for n, t in rss.tracks.items() if n != _POSTGRES}
    finally:
        stop_services(services)
        watcher.stop()
    return outcome


def hub_env(database_url: str, endpoint: MqttEndpoint, prefix: str, client_id: str, *,
            shared: bool) -> dict[str, str]:
    """TELEHUB_* settings for one hub worker under benchmark."""
    return {
        "TELEHUB_DATABASE_URL": database_url,
        "TELEHUB_MQTT_URL": endpoint.url(with_password=True),
        "TELEHUB_TOPIC_ROOT": prefix,
        "TELEHUB_INGEST__CLIENT_ID": client_id,
        "TELEHUB_INGEST__SHARED": "true" if shared else "false",
        "TELEHUB_INGEST__METRICS_PORT": "0",
        "TELEHUB_LOG_LEVEL": "WARNING",
    }


def fresh_database(admin_url: str, database: str, sizes: IngestSizes) -> str:
    """Recreate `database` with one patient and oximeter per publishing device."""
    url = recreate_database(admin_url, database)
    with connect(url) as conn:
        population = register_population(conn, patients=sizes.devices, team_size=500)
        conn.commit()
        if sizes.history_days:
            load_readings(conn, population, days=sizes.history_days,
                          as_of=(datetime.now(UTC) - timedelta(hours=7)).date())
            conn.execute("ANALYZE readings")
            conn.commit()
    return url


# The run's readings are timed from 6 h before it (bench.load.readings_messages); history
# loaded beforehand (`history_days`) ends before the day of 7 h ago, so it is not counted.
_COUNT = "SELECT count(*) AS n FROM readings WHERE time >= %(since)s"
_DISTINCT = ("SELECT count(*) AS stored, count(DISTINCT (device_id, metric, reading_key)) "
             "AS distinct FROM readings WHERE time >= %(since)s")


def _publish_and_wait(endpoint: MqttEndpoint, url: str, prefix: str, sizes: IngestSizes,
                      variant: str, alive: Callable[[], bool],
                      after_publish: Callable[[], None] | None = None) -> Outcome:
    """Publish every reading (then call `after_publish`), then poll the database until all
    are stored (or it stalls)."""
    since = datetime.now(UTC) - timedelta(hours=6, minutes=1)
    messages = readings_messages(_devices(sizes), sizes.per_device, prefix)
    publisher = WirePublisher(endpoint)
    with connect(url, autocommit=True) as conn:
        poll_cpu = backend_cpu_seconds(conn.info.backend_pid)
        try:
            started = time.perf_counter()
            publisher.publish_all(messages)
            publisher.wait_acked(len(messages), timeout=sizes.stall_s * 10)
            published = time.perf_counter()
        finally:
            publisher.close()
        if after_publish is not None:
            after_publish()
        done = _wait_stored(conn, len(messages), sizes.stall_s, alive, since)
        # This poll's own backend: PostgreSQL CPU spent counting, not storing.
        poll_cpu = backend_cpu_seconds(conn.info.backend_pid) - poll_cpu
        counts = conn.execute(_DISTINCT, {"since": since}).fetchone()
        rejected = conn.execute("SELECT count(*) AS n FROM rejected_messages").fetchone()
    assert counts is not None and rejected is not None
    extra: dict[str, Any] = {"rejected": int(rejected["n"])}
    return Outcome(variant, int(counts["stored"]), int(counts["distinct"]), done - started,
                   published - started, extra, poll_cpu)


def _wait_stored(conn: Any, total: int, stall_s: float, alive: Callable[[], bool],
                 since: datetime) -> float:
    """The time the last reading was seen stored (polling every 0.1 s)."""
    last, last_change = -1, time.perf_counter()
    while True:
        row = conn.execute(_COUNT, {"since": since}).fetchone()
        now = time.perf_counter()
        n = int(row["n"])
        if n != last:
            last, last_change = n, now
        if n >= total or now - last_change > stall_s or not alive():
            return last_change
        time.sleep(0.1)
