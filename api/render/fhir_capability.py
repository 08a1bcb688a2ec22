"""The CapabilityStatement `GET /fhir/metadata` answers: exactly the interactions, search
parameters, includes and profiles Telehub's FHIR endpoint supports, reads and writes."""

from __future__ import annotations

from typing import Any

from api.render.fhir import PATIENT_PROFILE, PROFILES
from api.render.fhir_search import MAX_COUNT, PREFIXES

FHIR_VERSION = "4.0.1"
# The day this statement last changed (CapabilityStatement.date is required).
PUBLISHED = "2026-12-03"


def _param(name: str, kind: str, doc: str) -> dict[str, Any]:
    return {"name": name, "type": kind, "documentation": doc,
            "definition": _DEFINITIONS.get(name, f"http://hl7.org/fhir/SearchParameter/"
                                                 f"{name.lstrip('_')}")}


_DEFINITIONS = {
    "_lastUpdated": "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated",
    "_id": "http://hl7.org/fhir/SearchParameter/Resource-id",
    "identifier": "http://hl7.org/fhir/SearchParameter/Patient-identifier",
    "patient": "http://hl7.org/fhir/SearchParameter/clinical-patient",
    "subject": "http://hl7.org/fhir/SearchParameter/Observation-subject",
    "code": "http://hl7.org/fhir/SearchParameter/clinical-code",
    "date": "http://hl7.org/fhir/SearchParameter/clinical-date",
    "status": "http://hl7.org/fhir/SearchParameter/Flag-status",
}
_DATE_DOC = (f"Prefixes {', '.join(PREFIXES)}; a date, month or year without an offset is "
             "read in the service's time zone (Europe/London).")


def capability_statement(base_url: str, software_version: str) -> dict[str, Any]:
    """The CapabilityStatement of the endpoint at `base_url` (ending in /fhir)."""
    observation_profiles = sorted({p for profiles in PROFILES.values() for p in profiles})
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": PUBLISHED,
        "publisher": "Telehub",
        "kind": "instance",
        "software": {"name": "Telehub", "version": software_version},
        "implementation": {"description": "Telehub home telehealth monitoring: readings, "
                                          "devices and alerts of the patients the signed-in "
                                          "member of staff cares for.", "url": base_url},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            "documentation": "Reads need a bearer token (POST /auth/token, or an integration "
                             "token); the caller sees their team's patients only (others are "
                             "404). Uploads authenticate as the device (HTTP Basic). Errors "
                             "are OperationOutcomes.",
            "security": {"cors": False, "description": "Authorization: Bearer <token> for "
                         "staff; HTTP Basic with the device id and password for uploads."},
            "interaction": [{"code": "transaction", "documentation": "POST /fhir: a PHD IG "
                             "transaction Bundle from a health-device gateway."}],
            "resource": [
                {"type": "Patient", "supportedProfile": [PATIENT_PROFILE],
                 "interaction": [{"code": "read"}, {"code": "search-type"}],
                 "searchParam": [
                     _param("identifier", "token", "https://fhir.nhs.uk/Id/nhs-number|<NHS "
                            "number>, or the NHS number alone."),
                     _param("_id", "token", "The patient's id.")]},
                {"type": "Observation", "supportedProfile": observation_profiles,
                 "documentation": f"_sort=date or -date (default -date); _count up to "
                                  f"{MAX_COUNT} (default 100; 0 gives the total only); "
                                  "paging by the Bundle's next/previous links.",
                 "interaction": [{"code": "read"}, {"code": "search-type"},
                                 {"code": "create"}],
                 "conditionalCreate": True,
                 "searchInclude": ["Observation:device"],
                 "searchParam": [
                     _param("patient", "reference", "Patient/<id> (required, or subject)."),
                     _param("subject", "reference", "Patient/<id>."),
                     _param("code", "token", "LOINC or SNOMED CT, system|code or code; "
                            "comma-separated for any of them."),
                     _param("date", "date", "The measurement time. " + _DATE_DOC),
                     _param("_lastUpdated", "date", "When Telehub received the reading. "
                            + _DATE_DOC)]},
                {"type": "Device", "interaction": [{"code": "read"}, {"code": "search-type"}],
                 "searchParam": [_param("patient", "reference", "Patient/<id> (required).")]},
                {"type": "Flag", "documentation": "Telehub alerts: active while open or "
                                                  "acknowledged, inactive once resolved.",
                 "interaction": [{"code": "read"}, {"code": "search-type"}],
                 "searchParam": [
                     _param("patient", "reference", "Patient/<id> (required)."),
                     _param("status", "token", "active or inactive.")]},
            ],
        }],
    }

