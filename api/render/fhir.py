"""FHIR R4 resources built from Telehub rows: Patient, and Observation per the vital-signs
profiles (LOINC codes, UCUM units), as shared/CLINICAL_RULES.md describes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

# Re-exported: the write side names an Observation by the same id.
from api.render.fhir_ids import observation_id as observation_id
from api.render.fhir_ids import parse_observation_id as parse_observation_id
from telehub.domain import clock
from telehub.domain.units import (
    LOINC_METRICS,
    LOINC_SYSTEM,
    NHS_NUMBER_SYSTEM,
    SPECS,
    UCUM_SYSTEM,
    Metric,
)
from telehub.errors import ValidationError

CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
DEVICE_SYSTEM = "urn:telehub:device-id"
VITALSIGNS = "http://hl7.org/fhir/StructureDefinition/vitalsigns"
PROFILES = {
    Metric.WEIGHT: "http://hl7.org/fhir/StructureDefinition/bodyweight",
    Metric.SPO2: "http://hl7.org/fhir/StructureDefinition/oxygensat",
    Metric.PULSE: "http://hl7.org/fhir/StructureDefinition/heartrate",
}
# Which LOINC codes an exported reading carries (the profile's required code first).
CODES = {
    Metric.WEIGHT: ("29463-7",),
    Metric.SPO2: ("2708-6", "59408-5"),
    Metric.PULSE: ("8867-4",),
    Metric.GLUCOSE: ("14743-9",),  # capillary blood by glucometer, mmol/L (canonical)
}
PULSE_OXIMETRY_CODE = "8889-8"
_DISPLAY = {code.code: code.display for spec in SPECS.values() for code in spec.loinc}
_FLAG_INTERPRETATION = {"hi": ("H", "High"), "lo": ("L", "Low")}


def loinc_codes(metric: Metric, device_kind: str | None) -> list[str]:
    """The LOINC codes an Observation of `metric` carries."""
    codes = list(CODES[metric])
    if metric == Metric.PULSE and device_kind == "oximeter":
        codes.append(PULSE_OXIMETRY_CODE)
    return codes


def observation(row: dict[str, Any]) -> dict[str, Any]:
    """An Observation for one stored reading."""
    metric = Metric(row["metric"])
    spec = SPECS[metric]
    unit = spec.canonical.value
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": observation_id(row),
        "status": "final",
        "category": [{"coding": [
            {"system": CATEGORY_SYSTEM, "code": "laboratory", "display": "Laboratory"}
            if metric == Metric.GLUCOSE else
            {"system": CATEGORY_SYSTEM, "code": "vital-signs", "display": "Vital Signs"}]}],
        "code": {"coding": [{"system": LOINC_SYSTEM, "code": c, "display": _DISPLAY[c]}
                            for c in loinc_codes(metric, row.get("device_kind"))],
                 "text": spec.label},
        "subject": {"reference": f"Patient/{row['patient_id']}"},
        "effectiveDateTime": row["time"].isoformat(),
        "issued": row["received_at"].isoformat(),
        "valueQuantity": {"value": round(float(row["value"]), spec.decimals + 2),
                          "unit": unit, "system": UCUM_SYSTEM, "code": unit},
        "device": {"identifier": {"system": DEVICE_SYSTEM, "value": row["device_id"]},
                   "display": row.get("device_kind") or "device"},
    }
    if metric in PROFILES:
        obs["meta"] = {"profile": [VITALSIGNS, PROFILES[metric]]}
    flags = [f for f in row.get("flags") or [] if f in _FLAG_INTERPRETATION]
    if flags:
        obs["interpretation"] = [{"coding": [
            {"system": INTERPRETATION_SYSTEM, "code": _FLAG_INTERPRETATION[f][0],
             "display": _FLAG_INTERPRETATION[f][1]}]} for f in flags]
    return obs


def patient(row: dict[str, Any]) -> dict[str, Any]:
    """A Patient with the NHS number as its identifier."""
    out: dict[str, Any] = {
        "resourceType": "Patient",
        "id": str(row["id"]),
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


def metric_for_code(token: str) -> Metric:
    """The metric a FHIR `code` search token names (`8867-4` or `http://loinc.org|8867-4`)."""
    system, _, code = token.rpartition("|")
    if system and system != LOINC_SYSTEM:
        raise ValidationError("unknown-code", f"Only LOINC codes are searchable, not {system}.")
    metric = LOINC_METRICS.get(code)
    if metric is None:
        raise ValidationError("unknown-code", f"No Telehub metric has the LOINC code '{code}'.")
    return metric


_PREFIXES = ("eq", "lt", "gt", "le", "ge")


def date_bounds(values: list[str]) -> tuple[datetime | None, datetime | None]:
    """[start, end) from FHIR `date` search values, e.g. `ge2026-03-01`, `lt2026-03-02T10:00Z`."""
    start: datetime | None = None
    end: datetime | None = None
    for raw in values:
        prefix, text = (raw[:2], raw[2:]) if raw[:2] in _PREFIXES else ("eq", raw)
        low, high = _instant_range(text)
        if prefix in ("ge", "eq"):
            start = max(start, low) if start else low
        if prefix == "gt":
            start = max(start, high) if start else high
        if prefix in ("le", "eq"):
            end = min(end, high) if end else high
        if prefix == "lt":
            end = min(end, low) if end else low
    return start, end


def _instant_range(text: str) -> tuple[datetime, datetime]:
    """The span a FHIR date or dateTime denotes: a whole UTC day, or one instant."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            if not clock.in_service_span(day):
                raise ValidationError("bad-date", f"A date must be {clock.service_span_text()}.")
            low = datetime.combine(day, time(), tzinfo=UTC)
            return low, low + timedelta(days=1)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as err:
        raise ValidationError("bad-date", f"'{text}' is not a FHIR date or dateTime.") from err
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if not clock.in_service_span(moment):
        raise ValidationError("bad-date", f"A date must be {clock.service_span_text()}.")
    return moment, moment + timedelta(microseconds=1)
