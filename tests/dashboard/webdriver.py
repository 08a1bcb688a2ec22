"""A minimal W3C WebDriver client over httpx for the browser smoke test.

Debian's chromium-driver speaks the W3C protocol over HTTP, so a few JSON calls drive a
real headless Chromium without another Python dependency.
"""

from __future__ import annotations

import base64
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ENTER = "\ue007"  # the WebDriver key code for Enter


class WebDriverError(RuntimeError):
    """The driver refused a command (no such element, timeout, …)."""


class Browser:
    """One browser session."""

    def __init__(self, http: httpx.Client, session_id: str) -> None:
        self._http = http
        self._base = f"/session/{session_id}"

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self._http.request(method, self._base + path, json=body)
        value = response.json().get("value")
        if response.status_code >= 400:
            raise WebDriverError(f"{value.get('error')}: {value.get('message', '')[:300]}"
                                 if isinstance(value, dict) else str(value))
        return value

    def get(self, url: str) -> None:
        """Open a page."""
        self._call("POST", "/url", {"url": url})

    def find(self, css: str | None = None, *, xpath: str | None = None) -> str:
        """The first element matching a CSS selector or an XPath; its element id."""
        using, value = ("xpath", xpath) if xpath else ("css selector", css)
        found = self._call("POST", "/element", {"using": using, "value": value})
        return str(next(iter(found.values())))

    def find_all(self, css: str) -> list[str]:
        """Every element matching a CSS selector."""
        found = self._call("POST", "/elements", {"using": "css selector", "value": css})
        return [str(next(iter(f.values()))) for f in found]

    def type(self, element: str, text: str) -> None:
        """Send keystrokes to an element."""
        self._call("POST", f"/element/{element}/value", {"text": text})

    def click(self, element: str) -> None:
        """Click an element."""
        self._call("POST", f"/element/{element}/click", {})

    def text(self, element: str) -> str:
        """An element's visible text."""
        return str(self._call("GET", f"/element/{element}/text"))

    def body_text(self) -> str:
        """The whole page's visible text."""
        return self.text(self.find("body"))

    def screenshot(self, path: Path) -> None:
        """Save a PNG of the window."""
        path.write_bytes(base64.b64decode(self._call("GET", "/screenshot")))

    def wait_for(self, what: Callable[[], Any], description: str, timeout: float = 30) -> Any:
        """Poll until `what()` returns something truthy without raising."""
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                result = what()
                if result:
                    return result
            except WebDriverError as err:
                last = err
            time.sleep(0.25)
        raise AssertionError(f"{description} did not happen within {timeout:g} s ({last})")


@contextmanager
def headless_chromium(chromium: str, chromedriver: str, port: int,
                      window: str = "1600,1100", extra_args: Sequence[str] = (),
                      accept_insecure_certs: bool = False) -> Iterator[Browser]:
    """chromedriver on `port` driving headless Chromium; everything stopped on exit.
    `extra_args` go to Chromium (e.g. --host-resolver-rules); `accept_insecure_certs` lets
    it open a site with a scratch certificate."""
    driver = subprocess.Popen([chromedriver, f"--port={port}"], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if http.get("/status").json()["value"]["ready"]:
                        break
                except (httpx.TransportError, ValueError, KeyError):
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("chromedriver did not start")
                time.sleep(0.1)
            options = {"binary": chromium,
                       "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                                "--disable-gpu", f"--window-size={window}", *extra_args]}
            created = http.post("/session", json={"capabilities": {"alwaysMatch": {
                "browserName": "chrome", "acceptInsecureCerts": accept_insecure_certs,
                "goog:chromeOptions": options}}})
            value = created.json()["value"]
            if created.status_code >= 400:
                raise RuntimeError(f"no browser session: {value}")
            session_id = value["sessionId"]
            try:
                yield Browser(http, session_id)
            finally:
                http.delete(f"/session/{session_id}")
    finally:
        driver.terminate()
        try:
            driver.wait(10)
        except subprocess.TimeoutExpired:
            driver.kill()
            driver.wait()
