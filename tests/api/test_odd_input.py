"""Odd ids and dates in a request are a 4xx with a clear reason, never a 500: ids are ASCII
digits within bigint, dates lie in the span the service handles (telehub.domain.clock)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.api.conftest import LiveApi

BIGINT_MAX = 2**63 - 1  # every id column is a PostgreSQL bigint
# Digits of other scripts, and characters `str.isdigit()` takes for digits.
NOT_ASCII = ["\u00b2", "\u0661\u0662", "\u0661", "\uff11", "\u0967", "1\u00b2", "\U0001d7cf"]


@pytest.mark.parametrize("ref", [*NOT_ASCII, f"Patient/{NOT_ASCII[1]}", str(BIGINT_MAX + 1),
                                 "9" * 5000, "0", "-1", " 1", "1_0", ""])
def test_a_patient_reference_that_is_not_an_id_is_422(live_api: LiveApi, ref: str) -> None:
    with live_api.client("admin") as c:
        r = c.get("/fhir/Observation", params={"patient": ref})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    issue = r.json()["issue"][0]
    assert issue["details"]["coding"][0]["code"] == "bad-patient"
    assert "digits 0-9" in issue["diagnostics"]


def test_a_patient_reference_in_ascii_digits_is_read(live_api: LiveApi) -> None:
    bob = live_api.world.patients["bob"]
    with live_api.client("nurse") as c:
        assert c.get("/fhir/Observation", params={"patient": f"Patient/{bob}"}
                     ).status_code == 200
        assert c.get("/fhir/Observation", params={"patient": str(BIGINT_MAX)}
                     ).status_code == 404


@pytest.mark.parametrize(("path", "params"), [
    ("/teams/{north}/mdt.csv", {"week_ending": "9999-12-31"}),
    ("/teams/{north}/mdt.csv", {"week_ending": "0001-01-01"}),
    ("/teams/{north}/outcomes", {"to": "9999-12"}),
    ("/teams/{north}/outcomes", {"to": "0001-01"}),
    ("/teams/{north}/outcomes", {"from": "0000-01", "to": "0001-01"}),
    ("/teams/{north}/stats", {"to": "0001-01-01T00:00:00Z"}),
    ("/teams/{north}/stats", {"from": "9999-12-31T00:00:00Z"}),
    ("/patients/{bob}/readings", {"to": "0001-01-01T00:00:00Z"}),
    ("/patients/{bob}/readings", {"from": "9999-12-31T23:59:59Z"}),
    ("/fhir/Observation", {"patient": "{bob}", "date": "le9999-12-31"}),
    ("/fhir/Observation", {"patient": "{bob}", "date": "ge0001-01-01"}),
    ("/alerts", {"since": "9999-12-31T23:59:59Z"}),
    ("/audit", {"since": "0001-01-01T00:00:00Z"}),
])
def test_dates_outside_the_service_span_are_422(live_api: LiveApi, path: str,
                                                params: dict[str, str]) -> None:
    ids = {"north": live_api.world.teams["north"], "bob": live_api.world.patients["bob"]}
    with live_api.client("admin") as c:
        r = c.get(path.format(**ids), params={k: v.format(**ids) for k, v in params.items()})
    assert r.status_code == 422, r.text
    body = r.json()  # problem details, or an OperationOutcome under /fhir
    detail = body["issue"][0]["diagnostics"] if path.startswith("/fhir") else body["detail"]
    assert "1900-01-01" in detail and "2199-12-31" in detail


def test_the_week_ending_may_be_any_day_of_the_span(live_api: LiveApi) -> None:
    north = live_api.world.teams["north"]
    with live_api.client("matron") as c:
        for day in ("1900-01-01", "2199-12-31"):
            r = c.get(f"/teams/{north}/mdt.csv", params={"week_ending": day})
            assert r.status_code == 200, r.text


@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(week=st.dates(), ref=st.text(max_size=12))
@example(week=date(9999, 12, 31), ref="\u00b2")
@example(week=date(1, 1, 1), ref="\u0661\u0662")
def test_no_week_ending_or_patient_reference_is_a_500(live_api: LiveApi, week: object,
                                                      ref: str) -> None:
    north = live_api.world.teams["north"]
    with live_api.client("admin") as c:
        mdt = c.get(f"/teams/{north}/mdt.csv", params={"week_ending": str(week)})
        fhir = c.get("/fhir/Observation", params={"patient": ref})
    assert mdt.status_code in (200, 422), mdt.text
    assert fhir.status_code in (200, 404, 422), fhir.text
