"""A real headless Chromium against `telehub dashboard`: the matron opens the Outcomes page
and sees the before/after chart with its comparison cohort and the too-small warning; a
screenshot goes to tests/artifacts/ and, when TELEHUB_SCREENSHOT_DIR is set, there too."""

from __future__ import annotations

import os
import shutil
import time
from datetime import timedelta
from pathlib import Path

from dashboard.client import ApiClient, new_http
from telehub.care.plan import add_months
from telehub.domain import clock
from telehub.domain.nhs_number import synthetic_nhs_numbers
from tests.dashboard.conftest import PASSWORD, Seeded
from tests.dashboard.test_browser import (  # noqa: F401 (fixtures shared with the browser test)
    ARTIFACTS,
    _page_ok,
    _wait_text,
    browser,
    dashboard_url,
    pytestmark,
)
from tests.dashboard.test_rule_performance_and_before_after import seed_before_after
from tests.dashboard.webdriver import Browser


def _cohort() -> str:
    today = clock.today()
    index = add_months(today, -9)
    numbers = synthetic_nhs_numbers(start=9300)
    rows = ["nhs_number,index_date,kind,started_on,discharged_on"]
    for i in range(3):
        nhs = next(numbers)
        rows.append(f"{nhs},{index},emergency-admission,{add_months(index, -4 - i)},"
                    f"{add_months(index, -4 - i)}")
        since = add_months(index, 2 + i)
        rows.append(f"{nhs},{index},emergency-admission,{since},{since + timedelta(days=3)}")
    return "\n".join(rows) + "\n"


def test_the_outcomes_page_shows_before_and_since_enrolment_in_a_browser(
        dashboard_url: str, browser: Browser, seeded: Seeded, db_url: str,  # noqa: F811
        api_url: str) -> None:
    seed_before_after(db_url, seeded)
    with new_http(api_url) as http:
        client = ApiClient(http)
        client = client.with_token(client.sign_in("matron.north", PASSWORD).access_token)
        assert client.import_comparison(seeded.team_id, _cohort()).imported == 6
    browser.get(dashboard_url)
    username = browser.wait_for(lambda: browser.find('input[aria-label="Username"]'),
                                "the sign-in form")
    browser.type(username, "matron.north")
    browser.type(browser.find('input[aria-label="Password"]'), PASSWORD)
    browser.click(browser.find(xpath='//button[.//p[text()="Sign in"]]'))
    link = browser.wait_for(
        lambda: next((e for e in browser.find_all('[data-testid="stSidebarNavLink"]')
                      if "Outcomes" in browser.text(e)), None), "the Outcomes link")
    browser.click(link)
    _wait_text(browser, "Before and since enrolment")
    _wait_text(browser, "2 patients monitored 6 months or more; comparison cohort: 3")
    _wait_text(browser, "These numbers are too small to mean anything.")
    browser.wait_for(lambda: "monitored: since enrolment" in browser.body_text(),
                     "the before/after chart")
    time.sleep(1.5)  # plotly and the data grid paint after they mount
    _page_ok(browser)
    assert "comparison: since" in browser.body_text()
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard-outcomes-before-after.png"
    browser.screenshot(shot)
    assert shot.stat().st_size > 10_000
    where = os.environ.get("TELEHUB_SCREENSHOT_DIR")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, Path(where) / shot.name)
