"""`POST /fhir/Observation` (one reading, conditional create by `If-None-Exist`), and what an
upload answers while the hub is not storing: 202, never a 201 for a reading not yet stored."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import psycopg
from fhir.resources.R4B.operationoutcome import OperationOutcome

from api.render.fhir import observation_id
from ingest.service import Ingest
from telehub.config import Settings
from telehub.domain.units import NHS_NUMBER_SYSTEM
from tests.api.conftest import LiveApi
from tests.api.phd import (
    ANN_NHS,
    BOB_NHS,
    OXIMETER_EUI,
    SPO2,
    Upload,
    a_minute_ago,
    oximetry_upload,
    post_bundle,
    readings,
    register_oximeter,
    statuses,
    valid_response,
)
from tests.ingest.conftest import running_hub
from tests.log_guard import LogGuard


def post_observation(live_api: LiveApi, resource: dict[str, Any], auth: tuple[str, str],
                     condition: str | None = None) -> httpx.Response:
    """POST /fhir/Observation as the device, conditionally when `condition` is given."""
    headers = {"Content-Type": "application/fhir+json"}
    if condition:
        headers["If-None-Exist"] = condition
    return httpx.post(f"{live_api.url}/fhir/Observation", json=resource, auth=auth,
                      headers=headers, timeout=20)


def outcome_reason(r: httpx.Response) -> str | None:
    """The Telehub reason code of a response's OperationOutcome, after validating it."""
    OperationOutcome.model_validate(r.json())
    details = r.json()["issue"][0].get("details")
    return details["coding"][0]["code"] if details else None


def test_one_observation_is_created_with_its_location_and_a_resend_finds_it(
        live_api: LiveApi, hub: Ingest, conn: psycopg.Connection[Any],
        log_guard: LogGuard) -> None:
    auth = register_oximeter(live_api, log_guard)
    up = Upload(ANN_NHS, OXIMETER_EUI, "0400007825")
    entry = up.numeric(SPO2, 94, "%", a_minute_ago(2),
                       subject={"identifier": {"system": NHS_NUMBER_SYSTEM, "value": ANN_NHS}})
    resource, key = entry["resource"], entry["resource"]["identifier"][0]["value"]
    del resource["device"]  # a single upload's device is the one that signed in

    created = post_observation(live_api, resource, auth, f"identifier={key}")
    assert created.status_code == 201, created.text
    assert outcome_reason(created) is None
    [row] = readings(conn)
    assert (row["metric"], row["value"], row["reading_key"]) == ("spo2", 94.0, key)
    assert created.headers["location"] == \
        f"{live_api.url}/fhir/Observation/{observation_id(row)}"

    again = post_observation(live_api, resource, auth, f"identifier={key}")
    assert again.status_code == 200
    assert again.headers["location"] == created.headers["location"]
    assert len(readings(conn)) == 1


def test_another_value_under_a_stored_observations_identity_is_refused_not_already_stored(
        live_api: LiveApi, hub: Ingest, conn: psycopg.Connection[Any],
        log_guard: LogGuard) -> None:
    auth = register_oximeter(live_api, log_guard)
    up = Upload(ANN_NHS, OXIMETER_EUI, "0400007825")
    resource = up.numeric(SPO2, 94, "%", a_minute_ago(2))["resource"]
    del resource["device"]
    resource["subject"] = {"reference": f"Patient/{live_api.world.patients['ann']}"}
    assert post_observation(live_api, resource, auth).status_code == 201
    assert post_observation(live_api, resource, auth).status_code == 200  # the same reading
    amended = {**resource, "status": "amended",
               "valueQuantity": {**resource["valueQuantity"], "value": 90}}
    r = post_observation(live_api, amended, auth)
    assert (r.status_code, outcome_reason(r)) == (422, "reading-id-reused")
    assert "already stored with another value (94 %); this one (90 %)" in r.text
    key = resource["identifier"][0]["value"]
    # A conditional create is answered with what its condition matched, as FHIR says.
    assert post_observation(live_api, amended, auth, f"identifier={key}").status_code == 200
    assert [row["value"] for row in readings(conn)] == [94.0]


def test_one_observation_is_refused_with_the_hubs_reason(
        live_api: LiveApi, hub: Ingest, conn: psycopg.Connection[Any],
        log_guard: LogGuard) -> None:
    auth = register_oximeter(live_api, log_guard)
    up = Upload(ANN_NHS, OXIMETER_EUI, "0400007825")
    at = a_minute_ago(2)
    in_kg = up.numeric(SPO2, 94, "kg", at)["resource"]
    bobs = up.numeric(SPO2, 95, "%", at + timedelta(seconds=1),
                      subject={"identifier": {"system": NHS_NUMBER_SYSTEM,
                                              "value": BOB_NHS}})["resource"]
    for resource in (in_kg, bobs):
        del resource["device"]
    in_kg["subject"] = {"reference": f"Patient/{live_api.world.patients['ann']}"}
    assert outcome_reason(r := post_observation(live_api, in_kg, auth)) == "wrong-unit"
    assert r.status_code == 422
    assert outcome_reason(r := post_observation(live_api, bobs, auth)) == "patient-mismatch"
    assert r.status_code == 422
    r = httpx.post(f"{live_api.url}/fhir/Observation", json={"resourceType": "Patient"},
                   auth=auth, timeout=10)
    assert (r.status_code, outcome_reason(r)) == (400, "not-an-observation")
    assert readings(conn) == []


def test_while_the_hub_is_not_storing_an_upload_is_accepted_not_created_and_a_resend_confirms(
        live_api: LiveApi, settings: Settings, conn: psycopg.Connection[Any],
        log_guard: LogGuard) -> None:
    auth = register_oximeter(live_api, log_guard)
    bundle = oximetry_upload(a_minute_ago(3)).bundle()

    waiting = valid_response(post_bundle(live_api.url, bundle, auth))
    assert statuses(waiting)[4:] == ["202", "202", "202"]
    assert all("location" not in e["response"] for e in waiting["entry"][4:])
    assert readings(conn) == []

    with running_hub(settings):
        confirmed = valid_response(post_bundle(live_api.url, bundle, auth))
    assert statuses(confirmed)[4:] == ["201", "201", "201"]
    assert len(readings(conn)) == 4


def test_gateways_waiting_on_a_stopped_hub_leave_the_database_pool_to_staff(
        live_api: LiveApi, conn: psycopg.Connection[Any], log_guard: LogGuard) -> None:
    auth = register_oximeter(live_api, log_guard)
    gateways = live_api.settings.db_pool_max + 2
    bundles = [oximetry_upload(a_minute_ago(30 + 2 * i)).bundle() for i in range(gateways)]
    with ThreadPoolExecutor(gateways) as pool:
        uploads = [pool.submit(post_bundle, live_api.url, b, auth) for b in bundles]
        time.sleep(1.0)  # every upload is now waiting for the hub
        assert not any(u.done() for u in uploads)
        with live_api.client("nurse") as c:
            started = time.monotonic()
            r = c.get(f"/patients/{live_api.world.patients['ann']}")
            answered_in = time.monotonic() - started
        results = [u.result() for u in uploads]
    assert r.status_code == 200
    assert answered_in < 1.0
    assert all(statuses(valid_response(u))[4:] == ["202"] * 3 for u in results)
