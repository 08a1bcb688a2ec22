"""`telehub bench memory`: peak resident memory of the hub, API and dashboard during ingest.

The API and dashboard are polled over HTTP while the hub ingests the readings. The
baseline is an idle interpreter that has imported the same libraries as the core
(paho-mqtt, psycopg, pydantic), sampled alongside, so the ratios say how much each
process holds beyond the bare runtime; each process is also compared with itself
before the load.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import httpx

from bench.api_server import api_missing, serve_api
from bench.databases import connect
from bench.ingest import IngestSizes, fresh_database, hub_variant
from bench.processes import Service, command_available, own_broker, start_service, stop_services
from bench.report import Report, ratio
from telehub.demo.embedded import free_port, wait_for_port

FULL = IngestSizes(hubs=(1,))
QUICK = IngestSizes(devices=200, per_device=50, hubs=(1,))

COLUMNS = ["process", "start_mb", "peak_mb", "peak / start", "peak / runtime baseline"]

_RUNTIME = ("import time, paho.mqtt.client, psycopg, psycopg_pool, pydantic, telehub.config; "
            "time.sleep(3600)")


def run(admin_url: str, sizes: IngestSizes, *,
        database: str = "telehub_bench_memory") -> Report:
    """Start the API (serving GET /caseload) and the dashboard, ingest with one hub,
    sample each process's RSS."""
    report = Report("memory", params={"readings": sizes.total, "devices": sizes.devices,
                                      "database": database, "sample_interval_s": 0.1},
                    columns=COLUMNS)
    missing = command_available("hub")
    if missing:
        report.notes.append(missing)
        return report
    url = fresh_database(admin_url, database, sizes)
    with contextlib.ExitStack() as stack:
        endpoint = stack.enter_context(own_broker())
        log_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="telehub-bench-")))
        services = [_runtime_baseline(log_dir)]
        stack.callback(stop_services, services)
        pids = {"runtime": services[0].proc.pid}
        stop = threading.Event()
        api_url = "http://127.0.0.1:8000"
        api_missing_reason = api_missing()
        if api_missing_reason:
            report.notes.append(api_missing_reason)
        else:
            with connect(url) as conn:
                row = conn.execute("SELECT min(id) AS id FROM teams").fetchone()
            team = int(row["id"]) if row else 0
            api = stack.enter_context(serve_api(url, team))
            pids["api"] = api.pid
            api_url = api.url
            _poll(lambda: api.client.get("/caseload", params={"team_id": team}), stop, stack)
        reason = command_available("dashboard")
        if reason:
            report.notes.append(reason)
        else:
            port = free_port()
            dashboard = start_service("dashboard", ["dashboard"], _dashboard_env(api_url, port),
                                      log_dir)
            services.append(dashboard)
            pids["dashboard"] = dashboard.proc.pid
            try:
                wait_for_port("127.0.0.1", port, timeout=90)
                browser = headless_browser()
                if browser:
                    page = f"http://127.0.0.1:{port}/"
                    _poll(lambda: _open_page(browser, page), stop, stack)
                    report.params["dashboard_sessions"] = f"headless {Path(browser).name}"
                    # Opening the page makes a Streamlit session run the app script.
                else:
                    web = stack.enter_context(httpx.Client(timeout=10))
                    _poll(lambda: web.get(f"http://127.0.0.1:{port}/"), stop, stack)
                    report.params["dashboard_sessions"] = "none (no browser): HTTP GET / only"
            except TimeoutError:
                report.notes.append(f"dashboard did not listen within 90 s: {dashboard.tail(5)}")
        stack.callback(stop.set)  # first thing on the way out: the pollers stop, then the rest
        outcome = hub_variant(endpoint, url, sizes, processes=1, log_dir=log_dir,
                              extra_pids=pids)
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
                        "imported; the API serves GET /caseload for a "
                        f"{min(500, sizes.devices)}-patient team twice a second; dashboard "
                        f"sessions: {report.params.get('dashboard_sessions', 'none')}, opening "
                        "the sign-in page again and again")
    return report


def _runtime_baseline(log_dir: Path) -> Service:
    log = log_dir / "runtime.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", _RUNTIME], stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return Service("runtime", proc, log)


def _dashboard_env(api_url: str, port: int) -> dict[str, str]:
    return {"TELEHUB_DASHBOARD_PORT": str(port), "TELEHUB_API_URL": api_url,
            "TELEHUB_LOG_LEVEL": "WARNING"}


def headless_browser() -> str | None:
    """A Chromium-family browser that can open the dashboard headless, if one is installed."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _open_page(browser: str, url: str) -> None:
    """Load `url` in a headless browser and let its scripts run (a Streamlit session)."""
    subprocess.run([browser, "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--virtual-time-budget=5000", "--dump-dom", url],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60, check=False)


def _poll(request: Callable[[], object], stop: threading.Event,
          stack: contextlib.ExitStack) -> None:
    """Make `request` twice a second until stopped (a server doing its usual work)."""

    def loop() -> None:
        while not stop.wait(0.5):
            with contextlib.suppress(httpx.HTTPError):
                request()

    thread = threading.Thread(target=loop, name="poll", daemon=True)
    thread.start()
    stack.callback(thread.join, 10)
