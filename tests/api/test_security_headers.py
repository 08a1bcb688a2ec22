"""Every API response tells browsers and caches not to keep, sniff, refer or frame it; the
printable care plan also carries a Content-Security-Policy that allows nothing but its style."""

from __future__ import annotations

import httpx

from tests.api.conftest import LiveApi

EVERY_RESPONSE = {"cache-control": "no-store", "x-content-type-options": "nosniff",
                  "referrer-policy": "no-referrer", "x-frame-options": "DENY"}


def _carries_the_headers(r: httpx.Response) -> None:
    for name, value in EVERY_RESPONSE.items():
        assert r.headers.get(name) == value, (r.request.url, name, r.headers.get(name))


def test_patient_data_and_refusals_are_not_stored_sniffed_referred_or_framed(
        live_api: LiveApi) -> None:
    ann = live_api.world.patients["ann"]
    with live_api.client("nurse") as nurse, live_api.client() as anonymous:
        responses = [
            nurse.get(f"/patients/{ann}"),                            # patient data
            nurse.get(f"/patients/{live_api.world.patients['cat']}"),  # another team's: 404
            anonymous.get(f"/patients/{ann}"),                        # no token: 401
            nurse.get("/no-such-route"),
            nurse.post("/readings", content=b"x" * (live_api.settings.api.max_request_bytes
                                                     + 1)),          # refused early: 413
        ]
    assert [r.status_code for r in responses] == [200, 404, 401, 404, 413]
    for r in responses:
        _carries_the_headers(r)
        assert "content-security-policy" not in r.headers  # JSON: nothing to run or embed


def test_printable_care_plan_may_use_only_its_own_inline_style(live_api: LiveApi) -> None:
    with live_api.client("nurse") as nurse:
        page = nurse.get(f"/patients/{live_api.world.patients['ann']}/care-plan.html")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    _carries_the_headers(page)
    policy = {d.strip().split(" ", 1)[0]: d.strip().split(" ", 1)[1]
              for d in page.headers["content-security-policy"].split(";")}
    assert policy["default-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["style-src"] == "'unsafe-inline'"
    assert "<script" not in page.text  # the policy would block it: the page has none


def test_api_docs_page_cannot_be_framed(live_api: LiveApi) -> None:
    with live_api.client() as c:
        docs = c.get("/docs")
    assert docs.status_code == 200
    _carries_the_headers(docs)
    assert docs.headers["content-security-policy"] == "frame-ancestors 'none'"
