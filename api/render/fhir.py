"""FHIR R4 resources built from Telehub rows: Patient, and Observation per the UK Core and
FHIR vital-signs profiles (LOINC and SNOMED CT codes, UCUM units), as shared/CLINICAL_RULES.md
describes. Devices, Flags, search parameters and the CapabilityStatement have modules beside
this one (fhir_device, fhir_flag, fhir_search, fhir_capability)."""

from __future__ import annotations

from typing import Any

# Re-exported: the write side names an Observation by the same id.
from api.render.fhir_ids import observation_id as observation_id
from api.render.fhir_ids import parse_observation_id as parse_observation_id
from telehub.domain.codes import ReadingFlag
from telehub.domain.units import (
    LOINC_SYSTEM,
    NHS_NUMBER_SYSTEM,
    SNOMED_SYSTEM,
    SPECS,
    UCUM_SYSTEM,
    Metric,
)

CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
READING_SYSTEM = "urn:telehub:reading"
DEVICE_SYSTEM = "urn:telehub:device-id"
VITALSIGNS = "http://hl7.org/fhir/StructureDefinition/vitalsigns"
UK_CORE = "https://fhir.hl7.org.uk/StructureDefinition/"
# The UK Core profile first, then the base FHIR vital-signs profiles it derives from.
# UK Core has no capillary glucose profile: glucose claims the generic UK Core Observation.
PROFILES: dict[Metric, tuple[str, ...]] = {
    Metric.WEIGHT: (UK_CORE + "UKCore-Observation-VitalSigns-BodyWeight",
                    "http://hl7.org/fhir/StructureDefinition/bodyweight", VITALSIGNS),
    Metric.SPO2: (UK_CORE + "UKCore-Observation-VitalSigns-OxygenSaturation",
                  "http://hl7.org/fhir/StructureDefinition/oxygensat", VITALSIGNS),
    Metric.PULSE: (UK_CORE + "UKCore-Observation-VitalSigns-HeartRate",
                   "http://hl7.org/fhir/StructureDefinition/heartrate", VITALSIGNS),
    Metric.GLUCOSE: (UK_CORE + "UKCore-Observation",),
}
PATIENT_PROFILE = UK_CORE + "UKCore-Patient"
# Which LOINC codes an exported reading carries (the profile's required code first).
CODES = {
    Metric.WEIGHT: ("29463-7",),
    Metric.SPO2: ("2708-6", "59408-5"),
    Metric.PULSE: ("8867-4",),
    Metric.GLUCOSE: ("14743-9",),  # capillary blood by glucometer, mmol/L (canonical)
}
PULSE_OXIMETRY_CODE = "8889-8"
_DISPLAY = {code.code: code.display for spec in SPECS.values() for code in spec.loinc}
# SNOMED CT displays of the codes in telehub.domain.units (UK Core value sets: body weight,
# oxygen saturation, heart rate; glucose: the international blood glucose concentration).
SNOMED_DISPLAY = {"27113001": "Body weight", "431314004": "Peripheral oxygen saturation",
                  "364075005": "Heart rate", "434912009": "Blood glucose concentration"}


# A meter's HI / LO is stored at the edge of its range: the true value is beyond it.
METER_COMPARATORS = {ReadingFlag.HI.value: ">=", ReadingFlag.LO.value: "<="}
FLAG_NOTES = {
    ReadingFlag.LOW_QUALITY.value: "The device flagged this reading as low quality (poor "
                                   "perfusion or movement): it is left out of every threshold "
                                   "rule.",
    ReadingFlag.INVALID.value: "The device reported this measurement as failed: it is left "
                               "out of every threshold rule.",
    ReadingFlag.VERIFY.value: "Outside the device's stated accuracy: unverified, repeat the "
                              "reading.",
    ReadingFlag.HI.value: "The meter showed HI: above its measuring range.",
    ReadingFlag.LO.value: "The meter showed LO: below its measuring range.",
}


def loinc_codes(metric: Metric, device_kind: str | None) -> list[str]:
    """The LOINC codes an Observation of `metric` carries."""
    codes = list(CODES[metric])
    if metric == Metric.PULSE and device_kind == "oximeter":
        codes.append(PULSE_OXIMETRY_CODE)
    return codes


def reading_identifier(row: dict[str, Any]) -> str:
    """The reading's business identifier: `<device id>|<metric>|<reading_key>|<ISO time>`."""
    return f"{row['device_id']}|{row['metric']}|{row['reading_key']}|{row['time'].isoformat()}"


def observation(row: dict[str, Any],
                interpretation: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """An Observation for one stored reading, with the `interpretation` of the rules that
    fired on it (api.render.fhir_interpretation)."""
    metric = Metric(row["metric"])
    spec = SPECS[metric]
    unit = spec.canonical.value
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": observation_id(row),
        "meta": {"profile": list(PROFILES[metric]),
                 "lastUpdated": row["received_at"].isoformat()},
        "identifier": [{"system": READING_SYSTEM, "value": reading_identifier(row)}],
        "status": "final",
        "category": [{"coding": [
            {"system": CATEGORY_SYSTEM, "code": "laboratory", "display": "Laboratory"}
            if metric == Metric.GLUCOSE else
            {"system": CATEGORY_SYSTEM, "code": "vital-signs", "display": "Vital Signs"}]}],
        "code": {"coding": [{"system": LOINC_SYSTEM, "code": c, "display": _DISPLAY[c]}
                            for c in loinc_codes(metric, row.get("device_kind"))]
                 + [{"system": SNOMED_SYSTEM, "code": spec.snomed,
                     "display": SNOMED_DISPLAY[spec.snomed]}],
                 "text": spec.label},
        "subject": {"reference": f"Patient/{row['patient_id']}"},
        "effectiveDateTime": row["time"].isoformat(),
        "issued": row["received_at"].isoformat(),
        "valueQuantity": {"value": round(float(row["value"]), spec.decimals + 2),
                          "unit": unit, "system": UCUM_SYSTEM, "code": unit},
        "device": {"reference": f"Device/{row['device_pk']}",
                   "identifier": {"system": DEVICE_SYSTEM, "value": row["device_id"]},
                   "display": row.get("device_kind") or "device"},
    }
    flags = row.get("flags") or []
    comparator = next((METER_COMPARATORS[f] for f in flags if f in METER_COMPARATORS), None)
    if comparator is not None:
        obs["valueQuantity"]["comparator"] = comparator
    notes = [FLAG_NOTES[f] for f in flags if f in FLAG_NOTES]
    if notes:
        obs["note"] = [{"text": n} for n in notes]
    if interpretation:
        obs["interpretation"] = interpretation
    return obs


def patient(row: dict[str, Any]) -> dict[str, Any]:
    """A Patient with the NHS number as its identifier."""
    out: dict[str, Any] = {
        "resourceType": "Patient",
        "id": str(row["id"]),
        "meta": {"profile": [PATIENT_PROFILE]},
        "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": row["nhs_number"]},
                       {"system": "urn:telehub:display-id", "value": row["display_id"]}],
        "active": row["status"] != "discharged",
        "name": [{"use": "official", "family": row["family_name"],
                  "given": [row["given_name"]]}],
        "birthDate": row["birth_date"].isoformat(),
    }
    if row.get("address_line") or row.get("postcode"):
        address: dict[str, Any] = {"use": "home"}
        if row.get("address_line"):
            address["line"] = [row["address_line"]]
        if row.get("postcode"):
            address["postalCode"] = row["postcode"]
        out["address"] = [address]
    if row.get("phone"):
        out["telecom"] = [{"system": "phone", "value": row["phone"], "use": "home"}]
    return out


