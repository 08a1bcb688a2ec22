"""`telehub bench alert-latency`: a breaching reading published → the alert on the responders'
MQTT topic, median and p99, idle and under background load.

The baseline is the broker's own publish → subscriber latency measured the same way,
idle and under the same load, so the ratio is what the hub adds (decode, store,
evaluate, outbox, notify).
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from bench.databases import connect, recreate_database
from bench.load import LoopClient, Message, Publisher, reading_payload
from bench.population import BenchPatient, register_population
from bench.processes import (
    HubWatcher,
    Service,
    command_available,
    own_broker,
    start_service,
    stop_services,
)
from bench.report import Report, ratio, summarise
from telehub.config import MqttEndpoint
from telehub.mqtt import topics


@dataclass(frozen=True)
class AlertSizes:
    """Samples per condition, and the background load."""

    samples: int = 50
    background_rate: float = 2000.0   # readings/s from the background devices
    # Many devices each sending now and then, as a real caseload does (a device sending
    # every second would build a history no patient has and slow every rule evaluation).
    background_devices: int = 10_000
    hubs: int = 1                     # hub processes (a shared subscription when more)
    give_up_after: int = 3            # consecutive timed-out breaches before stopping
    timeout_s: float = 15.0           # one sample's longest wait for its alert
    warmup_s: float = 3.0             # background load runs this long before sampling
    # Another Telehub source tree whose hub is measured the same way in the same run
    # (rows "reference code: …"): the code before a change as a baseline.
    reference: str | None = None


FULL = AlertSizes()
QUICK = AlertSizes(samples=15, background_rate=1000.0, background_devices=2000)

COLUMNS = ["measure", "n", "median_ms", "p95_ms", "p99_ms", "max_ms", "timeouts"]


class Listener(LoopClient):
    """Records when each message arrives on the subscribed topics, with its payload."""

    def __init__(self, endpoint: MqttEndpoint, subscriptions: list[str]) -> None:
        super().__init__(endpoint, "listen", subscription=subscriptions)
        self._cond = threading.Condition()
        self._arrivals: list[tuple[float, str, bytes]] = []
        self.client.on_message = self._on_message

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self._arrivals.append((time.perf_counter(), msg.topic, bytes(msg.payload)))
            self._cond.notify_all()

    def wait_match(self, match: Any, since: float, timeout: float) -> float | None:
        """Arrival time of the first message after `since` for which match(topic, payload)."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for at, topic, payload in self._arrivals[seen:]:
                    if at >= since and match(topic, payload):
                        return at
                seen = len(self._arrivals)
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)


class Background:
    """Normal readings at a steady rate from the background devices, in a thread."""

    def __init__(self, endpoint: MqttEndpoint, devices: list[str], prefix: str,
                 rate: float) -> None:
        self.publisher = Publisher(endpoint, "background")
        self._devices, self._prefix, self._rate = devices, prefix, rate
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="background", daemon=True)
        self.sent = 0
        self._counted = 0
        self.started_at = 0.0
        self.stopped_at = 0.0

    def _messages(self) -> Iterator[Message]:
        k = 0
        while True:
            at = datetime.now(UTC) - timedelta(seconds=1)
            for device in self._devices:
                value = 96 + k % 3
                self._counted += 1
                yield Message(topics.readings_topic(device, self._prefix),
                              reading_payload(f"bg{k}", "spo2", value, "%", at))
            k += 1

    def _run(self) -> None:
        self.sent = self.publisher.publish_all(self._messages(), rate=self._rate,
                                               stop=self._stop)

    def __enter__(self) -> Background:
        self.publisher.start()
        self.started_at = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self.stopped_at = time.perf_counter()
        self.publisher.stop()

    @property
    def sent_so_far(self) -> int:
        """Messages published so far (while running: handed to the client)."""
        return self.sent or self._counted

    @property
    def achieved_rate(self) -> float:
        """Readings/s actually published."""
        span = (self.stopped_at or time.perf_counter()) - self.started_at
        return self.sent / span if span > 0 else 0.0


def run(admin_url: str, sizes: AlertSizes, *,
        database: str = "telehub_bench_alerts") -> Report:
    """Measure relay and alert latency, idle and under load; return the report."""
    report = Report("alert-latency", params={
        "samples": sizes.samples, "background_rate": sizes.background_rate,
        "background_devices": sizes.background_devices, "hubs": sizes.hubs,
        "database": database,
        "breach": "SpO2 88 % (spo2-scale1-red)"}, columns=COLUMNS)
    missing = command_available("hub")
    if missing:
        report.notes.append(missing)
        return report
    variants = [("", None)] + ([(REFERENCE, sizes.reference)] if sizes.reference else [])
    for label, source in variants:
        url = recreate_database(admin_url, database)
        with connect(url) as conn:
            population = register_population(
                conn, patients=sizes.background_devices + 2 * sizes.samples, team_size=500)
            conn.commit()
        background = [p.oximeter for p in population[:sizes.background_devices]]
        sampled = population[sizes.background_devices:]
        prefix = f"bench/{uuid.uuid4().hex[:12]}/telehub/v1"
        with own_broker() as endpoint, \
                tempfile.TemporaryDirectory(prefix="telehub-bench-") as tmp:
            _measure(report, endpoint, url, prefix, sizes, background, sampled, Path(tmp),
                     source=source, label=label)
        with connect(url) as conn:
            row = conn.execute(_OUTCOME_SQL).fetchone()
        if row is not None:
            report.params.update({f"{label}{k}": v for k, v in row.items()})
    idle, loaded = _rows_by_name(report)
    report.ratios.update({
        "alert / relay, idle (median)": ratio(idle[1], idle[0]),
        "alert / relay, under load (median)": ratio(loaded[1], loaded[0]),
        "alert under load / alert idle (median)": ratio(loaded[1], idle[1]),
        "alert under load / alert idle (p99)": ratio(loaded[2], idle[2]),
    })
    if sizes.reference:
        report.params["reference"] = sizes.reference
        ref_idle, ref_loaded = _rows_by_name(report, REFERENCE)
        report.ratios.update({
            "alert idle / reference (median)": ratio(idle[1], ref_idle[1]),
            "alert idle / reference (p99)": ratio(idle[2], ref_idle[2]),
            "alert under load / reference (median)": ratio(loaded[1], ref_loaded[1]),
            "alert under load / reference (p99)": ratio(loaded[2], ref_loaded[2]),
        })
    report.ratios = {k: v for k, v in report.ratios.items() if v is not None}
    return report


_OUTCOME_SQL = """
SELECT (SELECT count(*) FROM alerts) AS alerts_raised,
       (SELECT count(*) FROM outbox_deliveries WHERE delivered_at IS NOT NULL)
           AS outbox_delivered,
       (SELECT count(*) FROM outbox WHERE planned_at IS NULL)
           + (SELECT count(*) FROM outbox_deliveries WHERE delivered_at IS NULL)
           AS outbox_pending,
       (SELECT count(*) FROM readings) AS readings_stored
"""


REFERENCE = "reference code: "


def _rows_by_name(report: Report, label: str = ""
                  ) -> tuple[tuple[Any, Any, Any], tuple[Any, Any, Any]]:
    rows = {row["measure"]: row for row in report.rows}

    def pick(kind: str) -> tuple[Any, Any, Any]:
        relay = rows.get(f"relay, {label}{kind}", {})
        alert = rows.get(f"alert, {label}{kind}", {})
        return relay.get("median_ms"), alert.get("median_ms"), alert.get("p99_ms")

    return pick("idle"), pick("under load")


def _measure(report: Report, endpoint: MqttEndpoint, url: str, prefix: str, sizes: AlertSizes,
             background: list[str], sampled: list[BenchPatient], log_dir: Path, *,
             source: str | None = None, label: str = "") -> None:
    client_ids = [f"bench-hub-{i}-{uuid.uuid4().hex[:6]}" for i in range(sizes.hubs)]
    from bench.ingest import hub_env

    watcher = HubWatcher(endpoint, prefix)
    watcher.start()
    probe_topic = f"{prefix}/bench/probe"
    # Alerts go to the configured topic root; the default root is watched too, in case a
    # hub publishes there regardless (that would be a bug worth seeing, not a lost sample).
    listener = Listener(endpoint, [f"{prefix}/alerts/#", f"{topics.ROOT}/alerts/#",
                                   probe_topic])
    listener.start()
    publisher = Publisher(endpoint, "sample")
    publisher.start()
    services: list[Service] = []
    try:
        for i, client_id in enumerate(client_ids):
            services.append(start_service(f"hub-{i}", ["hub"], hub_env(
                url, endpoint, prefix, client_id, shared=sizes.hubs > 1), log_dir, cwd=source))
        watcher.wait_online(client_ids, prefix, services)
        half = sizes.samples
        if not _sample(report, f"{label}idle", publisher, listener, probe_topic, prefix,
                       sampled[:half], sizes):
            return
        with Background(endpoint, background, prefix, sizes.background_rate) as load:
            time.sleep(sizes.warmup_s)
            _sample(report, f"{label}under load", publisher, listener, probe_topic, prefix,
                    sampled[half:], sizes)
            with connect(url) as conn:
                row = conn.execute("SELECT count(*) AS n FROM readings").fetchone()
            published = load.sent_so_far
        report.params[f"{label}background_achieved_rate"] = round(load.achieved_rate, 1)
        # How far the hub was behind when sampling ended (readings published, not stored).
        report.params[f"{label}hub_backlog_at_end"] = published + 2 * half - (int(row["n"]) if row
                                                                       else 0)
        for service in services:
            if not service.alive():
                report.notes.append(f"{service.name} exited during the run: {service.tail(5)}")
    finally:
        stop_services(services)
        publisher.stop()
        listener.stop()
        watcher.stop()


def _sample(report: Report, kind: str, publisher: Publisher, listener: Listener,
            probe_topic: str, prefix: str, patients: list[BenchPatient],
            sizes: AlertSizes) -> bool:
    """Time relay probes and breaches one at a time; False when no alert ever arrived."""
    relay: list[float] = []
    alerts: list[float] = []
    timeouts = streak = 0
    for i, patient in enumerate(patients):
        token = f"probe-{kind}-{i}".encode()
        sent = time.perf_counter()
        publisher.publish(Message(probe_topic, token))
        arrived = listener.wait_match(lambda t, p, tok=token: p == tok, sent, 5.0)
        if arrived is not None:
            relay.append(arrived - sent)
        display = f"TH-{patient.id:06d}"
        payload = reading_payload(f"breach-{i}", "spo2", 88, "%")
        sent = time.perf_counter()
        publisher.publish(Message(topics.readings_topic(patient.oximeter, prefix), payload))
        arrived = listener.wait_match(
            lambda t, p, d=display: "/alerts/" in t and _for_patient(p, d), sent, sizes.timeout_s)
        if arrived is not None:
            alerts.append(arrived - sent)
            streak = 0
            continue
        timeouts += 1
        streak += 1
        if not alerts and kind.endswith("idle"):
            report.notes.append(f"no alert arrived within {sizes.timeout_s:.0f} s of the first "
                                "breach while idle; is the alerts notifier installed?")
            break
        if streak >= sizes.give_up_after:
            report.notes.append(f"{kind}: {streak} breaches in a row raised no alert within "
                                f"{sizes.timeout_s:.0f} s (the hub is behind the load); "
                                "stopped sampling")
            break
    report.add(measure=f"relay, {kind}", timeouts=0, **summarise(relay))
    report.add(measure=f"alert, {kind}", timeouts=timeouts, **summarise(alerts))
    return bool(alerts)


def _for_patient(payload: bytes, display_id: str) -> bool:
    """True when an alert notification names this patient (or names none at all)."""
    try:
        body = json.loads(payload)
    except ValueError:
        return False
    return not isinstance(body, dict) or body.get("patient", display_id) == display_id
