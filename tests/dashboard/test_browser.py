"""A real headless Chromium against `telehub dashboard` and the real API: sign in, see the
caseload with a RED patient, see a new red alert arrive by itself, open the patient page; a
responder sees a fall published over MQTT arrive in the queue through the real hub;
screenshots in tests/artifacts/."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from telehub.care import registration as registry
from telehub.config import Settings, parse_mqtt_url
from telehub.db.pool import connect, open_pool
from telehub.mqtt import topics
from tests.dashboard.conftest import PASSWORD, Seeded, add_alert, add_staff, free_port
from tests.dashboard.test_responder import add_care_context
from tests.dashboard.webdriver import ENTER, Browser, headless_chromium

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/lib/chromium/chromedriver"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None or not Path(CHROMEDRIVER).exists(),
                       reason="needs Debian chromium and chromium-driver (.ci/run installs them)"),
]


@pytest.fixture
def dashboard_url(api_url: str) -> Iterator[str]:
    """`telehub dashboard` on a free port, pointed at the test's API."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "telehub", "dashboard", "--port", str(port), "--api-url", api_url],
        env={**os.environ, "TELEHUB_LOG_LEVEL": "WARNING"}, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"telehub dashboard exited: {proc.stderr.read()!r}"[:2000]
                                   if proc.stderr else "telehub dashboard exited")
            if _healthy(f"{url}/_stcore/health"):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the dashboard did not start within 60 s")
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _healthy(url: str) -> bool:
    """Streamlit answers its health check. (urllib, not httpx: httpx's debug log of the
    response headers carries Streamlit's XSRF cookie, whose ten-digit Unix time passes the
    NHS-number check one time in eleven and trips the log guard.)"""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 (local http)
            return bool(response.read() == b"ok")
    except OSError:
        return False


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Headless Chromium driven through chromedriver."""
    with headless_chromium(str(CHROMIUM), CHROMEDRIVER, free_port()) as session:
        yield session


def _page_ok(browser: Browser) -> None:
    """The page is not empty and shows no Streamlit exception."""
    errors = browser.find_all('[data-testid="stException"]')
    assert not errors, browser.text(errors[0])
    assert browser.body_text().strip(), "the page is empty"


def _wait_text(browser: Browser, text: str, timeout: float = 30) -> None:
    browser.wait_for(lambda: text in browser.body_text(), f"'{text}' appearing", timeout)


def test_sign_in_see_a_red_patient_and_open_the_patient_page(
        dashboard_url: str, browser: Browser, seeded: Seeded, db_url: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    browser.get(dashboard_url)
    username = browser.wait_for(lambda: browser.find('input[aria-label="Username"]'),
                                "the sign-in form")
    browser.type(username, "nurse.north")
    browser.type(browser.find('input[aria-label="Password"]'), PASSWORD)
    browser.click(browser.find(xpath='//button[.//p[text()="Sign in"]]'))

    _wait_text(browser, "3 patients · 1 RED")
    _wait_text(browser, "Grace Okafor")
    browser.wait_for(lambda: browser.find_all('[data-testid="stDataFrame"]'), "the caseload")
    time.sleep(1.0)  # the data grid paints on a canvas after it mounts
    _page_ok(browser)
    browser.screenshot(ARTIFACTS / "dashboard-caseload.png")

    # A red alert arriving while the page is open shows within one 30 s refresh, untouched.
    with connect(db_url) as conn:
        add_alert(conn, seeded.green_patient, seeded.team_id, "pulse-red", "red", "pulse",
                  "Pulse 135 /min is at or above the red limit of 131 /min.",
                  datetime.now(UTC), 135)
    _wait_text(browser, "3 patients · 2 RED", timeout=45)
    _page_ok(browser)

    picker = browser.find('input[aria-label*="Open a patient"]')
    browser.click(picker)
    browser.type(picker, "Patricia" + ENTER)
    button = browser.wait_for(
        lambda: browser.find(xpath='//button[.//p[text()="Open patient page"]]'),
        "the open-patient button")
    browser.click(button)

    _wait_text(browser, "Patricia Clegg · TH-000003")
    browser.wait_for(lambda: browser.find_all(".js-plotly-plot"), "the SpO2 chart")
    _wait_text(browser, "RED ≤ 91")
    _page_ok(browser)
    browser.screenshot(ARTIFACTS / "dashboard-patient.png")
    assert (ARTIFACTS / "dashboard-caseload.png").stat().st_size > 10_000
    assert (ARTIFACTS / "dashboard-patient.png").stat().st_size > 10_000


@pytest.fixture
def hub(settings: Settings, db_url: str) -> Iterator[Settings]:
    """The hub's ingest and notifier on the test's database, broker and topic root."""
    from alerts.notifier import Notifier
    from ingest.service import Ingest

    hub_settings = settings.model_copy(update={"ingest": settings.ingest.model_copy(
        update={"client_id": f"dash-hub-{uuid.uuid4().hex[:8]}", "batch_wait_ms": 20,
                "metrics_port": 0})})
    pool = open_pool(db_url, max_size=3)
    ingest = Ingest(hub_settings, pool)
    notifier = Notifier(hub_settings, pool)
    ingest.start()
    assert ingest.consumer.connected.wait(10), "the hub did not connect"
    notifier.start()
    try:
        yield hub_settings
    finally:
        notifier.stop()
        ingest.stop()
        pool.close()


def _publish(settings: Settings, topic: str, payload: dict[str, str]) -> None:
    """One QoS 1 message, as a telecare device sends it."""
    endpoint = parse_mqtt_url(str(settings.mqtt_url))
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect(endpoint.host, endpoint.port)
    client.loop_start()
    try:
        client.publish(topic, json.dumps(payload).encode(), qos=1).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()


def test_a_responder_sees_a_fall_arrive_in_the_queue_with_what_they_need(
        dashboard_url: str, browser: Browser, seeded: Seeded, db_url: str,
        hub: Settings) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    with connect(db_url) as conn:
        add_staff(conn, "response.centre", "Telecare Response Centre", "responder")
        registry.add_device(conn, device_id="fall-g1", kind="fall-detector",
                            patient=seeded.green_patient)
        add_care_context(conn, seeded.green_patient)
    browser.get(dashboard_url)
    username = browser.wait_for(lambda: browser.find('input[aria-label="Username"]'),
                                "the sign-in form")
    browser.type(username, "response.centre")
    browser.type(browser.find('input[aria-label="Password"]'), PASSWORD)
    browser.click(browser.find(xpath='//button[.//p[text()="Sign in"]]'))
    _wait_text(browser, "Responder queue")
    _wait_text(browser, "1 urgent alerts · 1 RED")
    assert "FALL" not in browser.body_text()

    # The fall detector publishes; the real hub raises the red alert; the open queue shows it
    # within one 10 s refresh without anyone touching the page.
    _publish(hub, topics.events_topic("fall-g1", hub.topic_root),
             {"id": "evt-1", "event": "fall", "time": datetime.now(UTC).isoformat()})
    _wait_text(browser, "2 urgent alerts · 2 RED", timeout=25)
    # The counter is drawn before the queue's cards in the same rerun: wait for the card.
    _wait_text(browser, "FALL · Margaret Ashworth (TH-000001)", timeout=15)
    text = browser.body_text()
    assert "FALL · Margaret Ashworth (TH-000001)" in text
    assert "Fall detected by telecare device fall-g1" in text
    assert "Key safe by the back door, code 4321" in text
    assert "Susan Clegg (daughter, next of kin): 07700 900123" in text
    assert "Advance decision in place" in text
    assert "0300 123 4567" in text
    _page_ok(browser)
    browser.screenshot(ARTIFACTS / "responder-fall.png")
    assert (ARTIFACTS / "responder-fall.png").stat().st_size > 10_000


def _tab(browser: Browser, title: str) -> None:
    browser.click(browser.wait_for(
        lambda: browser.find(xpath=f'//*[@role="tab"][contains(., "{title}")]'),
        f"the '{title}' tab"))


def test_a_matron_sees_the_care_plan_and_the_team_outcomes(
        dashboard_url: str, browser: Browser, seeded: Seeded, db_url: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    today = datetime.now(UTC).date()
    with connect(db_url) as conn:
        add_care_context(conn, seeded.red_patient)
        conn.execute("UPDATE patient_care SET review_due = %s",
                     (today - timedelta(days=3),))
        conn.execute("INSERT INTO hospital_episodes (patient_id, kind, started_on, source, "
                     "recorded_by) VALUES (%s, 'emergency-admission', %s, 'manual', 'test')",
                     (seeded.red_patient, today))
    browser.get(dashboard_url)
    username = browser.wait_for(lambda: browser.find('input[aria-label="Username"]'),
                                "the sign-in form")
    browser.type(username, "matron.north")
    browser.type(browser.find('input[aria-label="Password"]'), PASSWORD)
    browser.click(browser.find(xpath='//button[.//p[text()="Sign in"]]'))
    _wait_text(browser, "1 care-plan reviews overdue")
    picker = browser.wait_for(lambda: browser.find('input[aria-label*="Open a patient"]'),
                              "the patient picker")
    browser.click(picker)
    browser.type(picker, "Patricia" + ENTER)
    browser.click(browser.wait_for(
        lambda: browser.find(xpath='//button[.//p[text()="Open patient page"]]'),
        "the open-patient button"))
    _wait_text(browser, "Patricia Clegg · TH-000003")
    _tab(browser, "Care plan")
    _wait_text(browser, "REVIEW OVERDUE since")
    _wait_text(browser, "Printable care plan")
    _page_ok(browser)
    browser.screenshot(ARTIFACTS / "dashboard-care-plan.png")

    browser.click(browser.find(xpath='//a[contains(., "Outcomes and MDT")]'))
    _wait_text(browser, "Emergency admissions and A&E attendances per 1,000 monitored patients")
    browser.wait_for(lambda: len(browser.find_all(".js-plotly-plot")) >= 2, "the charts")
    _wait_text(browser, "Weekly MDT review list")
    time.sleep(1.0)  # the data grids paint on a canvas after they mount
    _page_ok(browser)
    browser.screenshot(ARTIFACTS / "dashboard-outcomes.png")
    assert (ARTIFACTS / "dashboard-outcomes.png").stat().st_size > 10_000
