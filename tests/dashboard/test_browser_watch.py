"""A real headless Chromium against `telehub dashboard` and the real API: a nurse watches a
reviewed red alert from the inbox for 4 hours with a reason; the database holds the watch and
the card moves to the Watched tab; a screenshot in tests/artifacts/."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from psycopg.rows import dict_row

from telehub.db.pool import connect
from tests.dashboard.conftest import PASSWORD, Seeded
from tests.dashboard.test_browser import (  # the fixtures and helpers of the browser tests
    ARTIFACTS,
    _page_ok,
    _tab,
    _wait_text,
    browser,
    dashboard_url,
    pytestmark,
)
from tests.dashboard.webdriver import ENTER, Browser

__all__ = ["browser", "dashboard_url", "pytestmark"]

REASON = "Known exacerbation, rescue pack started"


def _pick(browser: Browser, label: str, option: str) -> None:
    """Choose `option` in the first selectbox labelled `label`."""
    box = browser.wait_for(lambda: browser.find(f'input[aria-label*="{label}"]'),
                           f"the '{label}' picker")
    browser.click(box)
    browser.type(box, option + ENTER)


def test_a_nurse_watches_a_reviewed_alert_in_a_real_browser(
        dashboard_url: str, browser: Browser, seeded: Seeded, db_url: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    with connect(db_url) as conn:
        conn.execute("UPDATE alerts SET status = 'acknowledged', acknowledged_at = now(), "
                     "acknowledged_by = %s WHERE id = %s", (seeded.nurse_id, seeded.red_alert))
    browser.get(dashboard_url)
    username = browser.wait_for(lambda: browser.find('input[aria-label="Username"]'),
                                "the sign-in form")
    browser.type(username, "nurse.north")
    browser.type(browser.find('input[aria-label="Password"]'), PASSWORD)
    browser.click(browser.find(xpath='//button[.//p[text()="Sign in"]]'))
    _wait_text(browser, "3 patients · 1 RED")
    browser.click(browser.wait_for(lambda: browser.find(xpath='//a[contains(., "Alert inbox")]'),
                                   "the inbox link"))
    _wait_text(browser, "2 of 2 open or acknowledged alerts")
    _pick(browser, "Action", "Watch")                    # the red alert's card comes first
    _pick(browser, "Watch for", "4 hours")
    note = browser.wait_for(lambda: browser.find('input[aria-label="Note"]'), "the note")
    browser.type(note, REASON)
    time.sleep(0.5)  # the text input sends its value when it loses focus or on Save
    before = datetime.now(UTC)
    browser.click(browser.find(xpath='//button[.//p[text()="Save"]]'))
    _wait_text(browser, f"Watch saved for alert {seeded.red_alert}.")
    with connect(db_url) as conn:
        row = conn.cursor(row_factory=dict_row).execute(
            "SELECT status::text AS status, watch_until, watch_reason FROM alerts "
            "WHERE id = %s", (seeded.red_alert,)).fetchone()
    assert row is not None and row["status"] == "acknowledged"
    assert row["watch_reason"] == REASON
    assert before + timedelta(hours=4) - timedelta(seconds=5) <= row["watch_until"] \
        <= datetime.now(UTC) + timedelta(hours=4)
    _wait_text(browser, "1 of 1 open or acknowledged alerts")
    _tab(browser, "Watched (1)")
    _wait_text(browser, "Watching until")
    _wait_text(browser, REASON)
    _page_ok(browser)
    browser.screenshot(ARTIFACTS / "dashboard-watch.png")
    assert (ARTIFACTS / "dashboard-watch.png").stat().st_size > 10_000
