"""A real headless Chromium against `telehub dashboard` and the real API: sign in, see the
caseload with a RED patient, open the patient page; screenshots in tests/artifacts/."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.dashboard.conftest import PASSWORD, Seeded, free_port

selenium = pytest.importorskip("selenium", reason="the browser test needs `pip install selenium`")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

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
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=1).text == "ok":
                    break
            except httpx.TransportError:
                pass
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


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    """Headless Chromium driven by chromedriver."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1600,1200"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options,
                              service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _page_ok(driver: WebDriver) -> None:
    """The page is not empty and shows no Streamlit exception."""
    errors = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
    assert not errors, errors[0].text
    assert driver.find_element(By.TAG_NAME, "body").text.strip(), "the page is empty"


def _wait_text(driver: WebDriver, text: str, timeout: float = 30) -> None:
    WebDriverWait(driver, timeout).until(
        lambda d: text in d.find_element(By.TAG_NAME, "body").text,
        f"'{text}' never appeared")


def test_sign_in_see_a_red_patient_and_open_the_patient_page(
        dashboard_url: str, browser: WebDriver, seeded: Seeded) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    wait = WebDriverWait(browser, 30)
    browser.get(dashboard_url)
    username = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR,
                                                      'input[aria-label="Username"]')))
    username.send_keys("nurse.north")
    browser.find_element(By.CSS_SELECTOR, 'input[aria-label="Password"]').send_keys(PASSWORD)
    browser.find_element(By.XPATH, '//button[.//p[text()="Sign in"]]').click()

    _wait_text(browser, "3 patients · 1 RED")
    _wait_text(browser, "Grace Okafor")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR,
                                               '[data-testid="stDataFrame"]')))
    time.sleep(1.0)  # the data grid paints on a canvas after it mounts
    _page_ok(browser)
    browser.save_screenshot(str(ARTIFACTS / "dashboard-caseload.png"))

    picker = browser.find_element(By.CSS_SELECTOR, 'input[aria-label*="Open a patient"]')
    picker.click()
    picker.send_keys("Patricia")
    picker.send_keys(Keys.ENTER)
    wait.until(ec.element_to_be_clickable(
        (By.XPATH, '//button[.//p[text()="Open patient page"]]'))).click()

    _wait_text(browser, "Patricia Clegg · TH-000003")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".js-plotly-plot")))
    _wait_text(browser, "RED ≤ 91")
    _page_ok(browser)
    browser.save_screenshot(str(ARTIFACTS / "dashboard-patient.png"))
    assert (ARTIFACTS / "dashboard-caseload.png").stat().st_size > 10_000
    assert (ARTIFACTS / "dashboard-patient.png").stat().st_size > 10_000
