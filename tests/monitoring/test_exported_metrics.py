"""The metrics the alert rules and the Grafana dashboard query are really exported: a real hub
process and the real API on the test's database and broker take readings and sign-ins, their
/metrics are scraped over HTTP, and every name the PromQL uses is among what they serve, with
values that match the database."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time

import httpx
import psycopg

from ingest.consumer import Consumer
from ingest.counters import IngestStats
from ingest.gauges import HubGauges
from ingest.work_queue import WorkQueue
from telehub.config import Settings
from telehub.db.pool import open_pool
from telehub.demo.embedded import free_port
from tests.dashboard.conftest import serving_api
from tests.ingest.conftest import Caseload, Publisher, reading, wait_for
from tests.monitoring.promql import (
    SYNTHETIC,
    dashboard_expressions,
    metric_names,
    rule_expressions,
)
from tests.monitoring.scraping import TEAM, scrape, value
from tests.reliability.harness import Hub


def test_every_metric_the_rules_and_dashboard_query_is_exported_with_real_values(
        settings: Settings, caseload: Caseload, hub: Hub, db_url: str) -> None:
    hub_url = f"http://127.0.0.1:{hub.metrics_port}/metrics"
    latest = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    publisher = Publisher(str(settings.mqtt_url), settings.topic_root)
    try:
        publisher.readings(caseload.oximeter, {"readings": [
            reading("spo2", 96, "%", rid="m-1", at=latest - timedelta(minutes=30)),
            reading("spo2", 84, "%", rid="m-2", at=latest)]}).wait_for_publish(5)
        publisher.readings(caseload.scale, reading("weight", 81.5, "kg", rid="m-3",
                                                   at=latest - timedelta(hours=1)))
        publisher.readings(caseload.oximeter, b"{not json").wait_for_publish(5)
    finally:
        publisher.close()

    def stored() -> bool:
        samples = scrape(hub_url)[1]
        return (value(samples, "telehub_ingest_readings_stored_total") >= 3
                and value(samples, "telehub_ingest_unacked_messages") == 0)

    wait_for(stored, timeout=30, what="the hub storing and acking the readings")

    with psycopg.connect(db_url) as conn:
        opened: dict[str, int] = dict(conn.execute("SELECT severity::text, count(*) FROM alerts "
                                   "GROUP BY severity").fetchall())
    assert opened, "the SpO2 of 84 % raised no alert"

    def outbox_settled() -> bool:
        return value(scrape(hub_url)[1], "telehub_outbox_undelivered") == 0

    wait_for(outbox_settled, timeout=30, what="the notifier delivering the alert")
    hub_text, hub_samples = scrape(hub_url)

    with serving_api(settings) as api:
        refused = httpx.post(f"{api}/auth/token",
                             data={"username": "nobody.here", "password": "not-the-password"})
        assert refused.status_code == 401
        assert httpx.get(f"{api}/healthz").status_code == 200
        api_text, api_samples = scrape(f"{api}/metrics")

    # The values are the real ones.
    assert value(hub_samples, "telehub_team_last_reading_timestamp_seconds",
                 team=TEAM) == latest.timestamp()
    assert value(hub_samples, "telehub_team_monitored_patients", team=TEAM) == 1
    assert value(hub_samples, "telehub_database_up") == 1
    assert value(hub_samples, "telehub_mqtt_connected") == 1
    assert value(hub_samples, "telehub_ingest_queue_depth") == 0
    assert value(hub_samples, "telehub_ingest_oldest_unacked_seconds") == 0
    assert value(hub_samples, "telehub_outbox_oldest_undelivered_seconds") == 0
    assert value(hub_samples, "telehub_ingest_rejected_total", reason="not-json") == 1
    for severity, count in opened.items():
        assert value(hub_samples, "telehub_alerts_opened_total", severity=severity) == count
    london_today = datetime.now(settings.zone).date()
    opens = datetime.combine(london_today, dt_time(8), tzinfo=settings.zone)
    assert value(hub_samples, "telehub_service_day_opens_timestamp_seconds") == \
        opens.timestamp()
    assert value(hub_samples, "telehub_service_day_closes_timestamp_seconds") == \
        opens.timestamp() + 12 * 3600
    assert value(api_samples, "telehub_api_signin_failures_total",
                 reason="bad-credentials") == 1
    assert value(api_samples, "telehub_database_up") == 1
    assert value(api_samples, "telehub_api_request_seconds_count",
                 method="GET", route="/healthz") == 1

    # Team codes only: no patient, NHS number or device id in either exposition.
    for text in (hub_text, api_text):
        for private in (caseload.patient_nhs, caseload.other_nhs, caseload.oximeter,
                        caseload.scale, "Pemberton", "Ingrid"):
            assert private not in text

    exported = {name for name, _labels in hub_samples} | {name for name, _ in api_samples}
    queries = {**rule_expressions(), **dashboard_expressions()}
    missing = {where: sorted(metric_names(expr) - exported - SYNTHETIC)
               for where, expr in queries.items()}
    assert not {where: names for where, names in missing.items() if names}


def test_the_hub_reports_its_database_down_when_it_cannot_reach_it(
        settings: Settings, caseload: Caseload) -> None:
    """The hub's gauges on a database that answers, then on one where nothing listens: the
    scrape says the database is down, within Prometheus's scrape timeout, and leaves out the
    figures it could not read rather than report stale ones."""
    up_pool = open_pool(str(settings.database_url), max_size=1, name="gauges-up")
    down_url = f"postgresql://root@127.0.0.1:{free_port()}/telehub"
    down_pool = open_pool(down_url, max_size=1, name="gauges-down", wait=False)
    consumer = Consumer(settings, WorkQueue(), IngestStats())   # built, never connected
    try:
        for pool, expected in ((up_pool, 1), (down_pool, 0)):
            gauges = HubGauges(pool, queue=WorkQueue(), consumer=consumer,
                               connected=consumer.connected, timezone=settings.timezone)
            started = time.monotonic()
            found = {m.name: m.samples for m in gauges.collect()}
            assert time.monotonic() - started < 5
            assert found["telehub_database_up"][0].value == expected
            assert found["telehub_mqtt_connected"][0].value == 0
            assert ("telehub_team_monitored_patients" in found) == bool(expected)
    finally:
        up_pool.close()
        down_pool.close()
