"""PHD IG gateway uploads, built as a Personal Health Gateway builds them: a transaction Bundle
with the Patient (identifier only), the gateway (PhgDevice), the oximeter (PhdDevice), a
coincident time stamp and numeric or compound Observations, each with the IG's reproducible
identifier and a conditional create; and the helpers the upload tests share."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
from fhir.resources.R4B.bundle import Bundle

from telehub.domain.units import NHS_NUMBER_SYSTEM
from tests.api.conftest import LiveApi
from tests.log_guard import LogGuard

MDC = "urn:iso:std:iso:11073:10101"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
EUI64 = "urn:oid:1.2.840.10004.1.1.1.0.0.1.0.0.1.2680"  # IEEE 11073 system identifier
PHD = "http://hl7.org/fhir/uv/phd/StructureDefinition/"
SPO2 = (("150456", MDC), ("59408-5", LOINC))
PULSE = (("149530", MDC), ("8867-4", LOINC))
GATEWAY_EUI = "0A-1B-2C-FF-FE-3D-4E-5F"


def urn() -> str:
    """A fresh entry fullUrl."""
    return f"urn:uuid:{uuid.uuid4()}"


def codes(pairs: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """A CodeableConcept of (code, system) pairs."""
    return {"coding": [{"system": system, "code": code} for code, system in pairs]}


def quantity(value: float, unit: str) -> dict[str, Any]:
    """A UCUM valueQuantity."""
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


@dataclass
class Upload:
    """One gateway upload for one patient and one PHD."""

    nhs_number: str
    device_eui: str
    serial: str
    patient_url: str = field(default_factory=urn)
    gateway_url: str = field(default_factory=urn)
    device_url: str = field(default_factory=urn)
    entries: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.entries += [self.patient(), self.gateway(), self.device()]

    def patient(self, nhs_number: str | None = None, url: str | None = None) -> dict[str, Any]:
        """The PhdPatient: only an identifier, conditionally created on it."""
        nhs = nhs_number or self.nhs_number
        return {"fullUrl": url or self.patient_url,
                "resource": {"resourceType": "Patient",
                             "meta": {"profile": [PHD + "PhdPatient"]},
                             "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": nhs}]},
                "request": {"method": "POST", "url": "Patient",
                            "ifNoneExist": f"identifier={NHS_NUMBER_SYSTEM}|{nhs}"}}

    def gateway(self) -> dict[str, Any]:
        """The PhgDevice: the phone or hub that uploads."""
        return {"fullUrl": self.gateway_url,
                "resource": {"resourceType": "Device", "meta": {"profile": [PHD + "PhgDevice"]},
                             "identifier": [{"system": EUI64, "value": GATEWAY_EUI}],
                             "type": codes((("531981", MDC),))},
                "request": {"method": "POST", "url": "Device",
                            "ifNoneExist": f"identifier={EUI64}|{GATEWAY_EUI}"}}

    def device(self, eui: str | None = None, serial: str | None = None,
               url: str | None = None) -> dict[str, Any]:
        """The PhdDevice: the pulse oximeter, by its system id and serial number."""
        eui = eui or self.device_eui
        return {"fullUrl": url or self.device_url,
                "resource": {"resourceType": "Device", "meta": {"profile": [PHD + "PhdDevice"]},
                             "identifier": [{"system": EUI64, "value": eui}],
                             "serialNumber": serial or self.serial,
                             "manufacturer": "Example Oximetry Ltd",
                             "type": codes((("65573", MDC),))},
                "request": {"method": "POST", "url": "Device",
                            "ifNoneExist": f"identifier={EUI64}|{eui}"}}

    def time_stamp(self, at: datetime) -> dict[str, Any]:
        """The PhdCoincidentTimeStampObservation: the PHD's clock against the gateway's."""
        resource = {"resourceType": "Observation", "status": "final",
                    "meta": {"profile": [PHD + "PhdCoincidentTimeStampObservation"]},
                    "code": codes((("67975", MDC),)), "subject": {"reference": self.device_url},
                    "effectiveDateTime": at.isoformat(), "valueDateTime": at.isoformat(),
                    "device": {"reference": self.device_url}}
        return {"fullUrl": urn(), "resource": resource,
                "request": {"method": "POST", "url": "Observation"}}

    def identifier(self, mdc: str, at: datetime, value: float) -> str:
        """The IG's reproducible identifier: device, patient, code, time and value."""
        return (f"{self.device_eui.replace('-', '')}-{self.nhs_number}-{NHS_NUMBER_SYSTEM}-"
                f"{mdc}-{at:%Y%m%d%H%M%S}.{at.microsecond // 10_000:02d}-{value:g}")

    def numeric(self, code: tuple[tuple[str, str], ...], value: float, unit: str,
                at: datetime, *, components: list[dict[str, Any]] | None = None,
                identifier: str | None = None, **extra: Any) -> dict[str, Any]:
        """A PhdNumericObservation, conditionally created on its identifier."""
        key = identifier or self.identifier(code[0][0], at, value)
        resource: dict[str, Any] = {
            "resourceType": "Observation", "status": "final",
            "meta": {"profile": [PHD + "PhdNumericObservation"]},
            "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/"
                                  "observation-gatewayDevice",
                           "valueReference": {"reference": self.gateway_url}}],
            "identifier": [{"value": key}],
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                                "observation-category",
                                      "code": "vital-signs"}]}],
            "code": codes(code), "subject": {"reference": self.patient_url},
            "effectiveDateTime": at.isoformat(), "valueQuantity": quantity(value, unit),
            "device": {"reference": self.device_url},
        }
        if components:
            resource["component"] = components
        resource.update(extra)
        return {"fullUrl": urn(), "resource": resource,
                "request": {"method": "POST", "url": "Observation",
                            "ifNoneExist": f"identifier={key}"}}

    def add(self, *entries: dict[str, Any]) -> Upload:
        """Append entries; returns self."""
        self.entries += entries
        return self

    def bundle(self) -> dict[str, Any]:
        """The transaction Bundle."""
        return {"resourceType": "Bundle", "type": "transaction", "entry": self.entries}


def pulse_component(value: float) -> dict[str, Any]:
    """A pulse rate carried as a component of an SpO2 Observation (the compound form)."""
    return {"code": codes(PULSE), "valueQuantity": quantity(value, "/min")}


def post_bundle(url: str, bundle: Any, auth: tuple[str, str]) -> httpx.Response:
    """POST /fhir as the device."""
    return httpx.post(f"{url}/fhir", json=bundle, auth=auth, timeout=20,
                      headers={"Content-Type": "application/fhir+json"})


ANN_NHS = "9990000026"  # tests.api.conftest.build_world
BOB_NHS = "9990000034"
OXIMETER_EUI = "00-1C-05-FF-FE-04-78-25"

READINGS_SQL = """
SELECT r.device_id AS device_pk, r.metric::text AS metric, r.reading_key, r.time, r.value,
       r.patient_id, d.device_id
  FROM readings r JOIN devices d ON d.id = r.device_id ORDER BY r.time, r.metric::text
"""


def register_oximeter(live_api: LiveApi, log_guard: LogGuard, patient: str = "ann",
                      device_id: str = "ox-phd", serial: str = "0400007825") -> tuple[str, str]:
    """An oximeter registered to `patient`, with its MQTT password: the gateway's sign-in."""
    with live_api.client("admin") as c:
        r = c.post("/devices", json={"device_id": device_id, "kind": "oximeter",
                                     "serial": serial,
                                     "patient_id": live_api.world.patients[patient]})
        assert r.status_code == 201, r.text
        password = c.post(f"/devices/{device_id}/credentials").json()["password"]
    log_guard.register(password)
    return device_id, password


def readings(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    """Every stored reading (a fresh snapshot)."""
    conn.rollback()
    return conn.execute(READINGS_SQL).fetchall()


def statuses(body: dict[str, Any]) -> list[str]:
    """Each response entry's status code."""
    return [e["response"]["status"].split()[0] for e in body["entry"]]


def reasons(body: dict[str, Any]) -> list[str | None]:
    """Each response entry's Telehub reason code (None when it has none)."""
    out = []
    for e in body["entry"]:
        details = e["response"]["outcome"]["issue"][0].get("details")
        out.append(details["coding"][0]["code"] if details else None)
    return out


def valid_response(r: httpx.Response) -> dict[str, Any]:
    """The transaction-response Bundle, checked against the FHIR R4B models."""
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    body: dict[str, Any] = r.json()
    Bundle.model_validate(body)
    assert body["type"] == "transaction-response"
    return body


def a_minute_ago(minutes: float = 1) -> datetime:
    """A recent measurement time, to the hundredth of a second as PHDs report it."""
    moment = datetime.now(UTC) - timedelta(minutes=minutes)
    return moment.replace(microsecond=moment.microsecond // 10_000 * 10_000)


def oximetry_upload(at: datetime) -> Upload:
    """A pulse oximeter's upload: an SpO2 and a pulse, then an SpO2 carrying its pulse."""
    up = Upload(ANN_NHS, OXIMETER_EUI, "0400007825")
    later = at + timedelta(minutes=1)
    return up.add(up.time_stamp(at),
                  up.numeric(SPO2, 96, "%", at),
                  up.numeric(PULSE, 72, "/min", at),
                  up.numeric(SPO2, 95, "%", later, components=[pulse_component(75)]))
