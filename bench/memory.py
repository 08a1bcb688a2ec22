"""`telehub bench memory`: peak resident memory of the hub, API and dashboard during ingest.

The API and dashboard are polled over HTTP while the hub ingests the readings. The
baseline is an idle interpreter that has imported the same libraries as the core
(paho-mqtt, psycopg, pydantic), sampled alongside, so the ratios say how much each
process holds beyond the bare runtime; each process is also compared with itself
before the load.
"""

from __future__ import annotations

import sys
import tempfile
import threading
from pathlib import Path

import httpx

from bench.ingest import IngestSizes, fresh_database, hub_variant
from bench.processes import Service, command_available, own_broker, start_service, stop_services
from bench.report import Report, ratio
from telehub.embedded import free_port, wait_for_port

FULL = IngestSizes(hubs=(1,))
QUICK = IngestSizes(devices=200, per_device=50, hubs=(1,))

COLUMNS = ["process", "start_mb", "peak_mb", "peak / start", "peak / runtime baseline"]

_RUNTIME = ("import time, paho.mqtt.client, psycopg, psycopg_pool, pydantic, telehub.config; "
            "time.sleep(3600)")


def run(admin_url: str, sizes: IngestSizes, *,
        database: str = "telehub_bench_memory") -> Report:
    """Start API and dashboard (where installed), ingest with one hub, sample RSS."""
    report = Report("memory", params={"readings": sizes.total, "devices": sizes.devices,
                                      "database": database, "sample_interval_s": 0.1},
                    columns=COLUMNS)
    missing = command_available("hub")
    if missing:
        report.notes.append(missing)
        return report
    url = fresh_database(admin_url, database, sizes)
    with own_broker() as endpoint, tempfile.TemporaryDirectory(prefix="telehub-bench-") as tmp:
        log_dir = Path(tmp)
        services = [_runtime_baseline(log_dir)]
        stop = threading.Event()
        pollers: list[threading.Thread] = []
        try:
            api_url = "http://127.0.0.1:8000"
            for name in ("api", "dashboard"):
                reason = command_available(name)
                if reason:
                    report.notes.append(reason)
                    continue
                port = free_port()
                env = (_api_env(url, port) if name == "api" else _dashboard_env(api_url, port))
                service = start_service(name, [name], env, log_dir)
                services.append(service)
                try:
                    wait_for_port("127.0.0.1", port, timeout=90)
                except TimeoutError:
                    report.notes.append(f"{name} did not listen within 90 s: {service.tail(5)}")
                    continue
                service_url = f"http://127.0.0.1:{port}"
                if name == "api":
                    api_url = service_url
                pollers.append(_poll(service_url + ("/health" if name == "api" else "/"), stop))
            outcome = hub_variant(endpoint, url, sizes, processes=1, log_dir=log_dir,
                                  extra_services=services)
        finally:
            stop.set()
            for poller in pollers:
                poller.join(5)
            stop_services(services)
    report.params["ingest_readings_per_s"] = outcome.row(sizes.total)["readings_per_s"]
    report.params["lost"] = sizes.total - outcome.distinct
    memory = outcome.extra.get("memory", {})
    runtime = memory.get("runtime", {}).get("peak_mb")
    for name, track in memory.items():
        report.add(process=name, start_mb=track["start_mb"], peak_mb=track["peak_mb"],
                   **{"peak / start": ratio(track["peak_mb"], track["start_mb"]),
                      "peak / runtime baseline": ratio(track["peak_mb"], runtime)})
        if name != "runtime":
            report.ratios[f"{name} peak / runtime baseline"] = ratio(track["peak_mb"], runtime)
    report.notes.append("runtime = an idle interpreter with paho-mqtt, psycopg and pydantic "
                        "imported; the dashboard is polled over plain HTTP (no browser session)")
    return report


def _runtime_baseline(log_dir: Path) -> Service:
    import subprocess

    log = log_dir / "runtime.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", _RUNTIME], stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return Service("runtime", proc, log)


def _api_env(database_url: str, port: int) -> dict[str, str]:
    return {"TELEHUB_DATABASE_URL": database_url, "TELEHUB_API__HOST": "127.0.0.1",
            "TELEHUB_API__PORT": str(port), "TELEHUB_LOG_LEVEL": "WARNING"}


def _dashboard_env(api_url: str, port: int) -> dict[str, str]:
    return {"TELEHUB_DASHBOARD_PORT": str(port), "TELEHUB_API_URL": api_url,
            "TELEHUB_LOG_LEVEL": "WARNING"}


def _poll(url: str, stop: threading.Event) -> threading.Thread:
    """GET `url` twice a second until stopped (keeps a server doing its usual work)."""

    def loop() -> None:
        with httpx.Client(timeout=5) as client:
            while not stop.wait(0.5):
                try:
                    client.get(url)
                except httpx.HTTPError:
                    continue

    thread = threading.Thread(target=loop, name=f"poll-{url}", daemon=True)
    thread.start()
    return thread
