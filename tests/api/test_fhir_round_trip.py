"""A gateway's upload read back by a FHIR client: every Observation the transaction response
names resolves for the patient's nurse, carries the gateway's own identifier in its
`urn:telehub:reading` identifier, and is found by a search of the patient's readings."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from ingest.service import Ingest
from tests.api.conftest import LiveApi
from tests.api.phd import a_minute_ago, oximetry_upload, post_bundle, register_oximeter
from tests.log_guard import LogGuard

fhirpy = pytest.importorskip("fhirpy")
from fhir.resources.R4B.observation import Observation  # noqa: E402


def test_an_uploaded_reading_reads_back_through_fhir(
        live_api: LiveApi, hub: Ingest, conn: psycopg.Connection[Any],
        log_guard: LogGuard) -> None:
    auth = register_oximeter(live_api, log_guard)
    up = oximetry_upload(a_minute_ago(3))
    r = post_bundle(live_api.url, up.bundle(), auth)
    assert r.status_code == 200, r.text
    created = [e["response"]["location"] for e in r.json()["entry"]
               if e["response"]["status"].startswith("201")]
    assert len(created) == 3          # SpO2, pulse, and the compound SpO2 (with its pulse)
    keys = {e["resource"]["identifier"][0]["value"] for e in up.entries
            if e["resource"]["resourceType"] == "Observation"
            and e["resource"].get("identifier")}
    client = fhirpy.SyncFHIRClient(f"{live_api.url}/fhir",
                                   authorization=f"Bearer {live_api.mint_token('nurse')}")
    ann = live_api.world.patients["ann"]
    read = []
    for location in created:
        resource_type, obs_id = location.rstrip("/").split("/")[-2:]
        obs = client.reference(resource_type, obs_id).to_resource().serialize()
        Observation.model_validate(obs)
        assert obs["subject"]["reference"] == f"Patient/{ann}"
        read.append(obs)
    # <device id>|<metric>|<reading key>|<time>: the reading key is the gateway's identifier.
    assert sorted(o["identifier"][0]["value"].split("|")[2] for o in read) == sorted(keys)
    assert all(o["identifier"][0]["system"] == "urn:telehub:reading" for o in read)
    found = client.resources("Observation").search(patient=f"Patient/{ann}").fetch_all()
    assert {o["id"] for o in read} <= {o["id"] for o in found}
