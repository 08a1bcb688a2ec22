"""FHIR R4 Device for a registered home device: its Telehub id and serial, its kind coded as
the PHD IG codes personal health devices (ISO/IEEE 11073 MDC device specialisations), the
patient it is registered to, and whether it is in service."""

from __future__ import annotations

from typing import Any

from api.render.fhir import DEVICE_SYSTEM

MDC_SYSTEM = "urn:iso:std:iso:11073:10101"
SERIAL_SYSTEM = "urn:telehub:device-serial"
# device kind -> (MDC code, MDC reference id, words)
KIND_CODES = {
    "scale": ("528399", "MDC_DEV_SPEC_PROFILE_SCALE", "Weighing scale"),
    "oximeter": ("528388", "MDC_DEV_SPEC_PROFILE_PULS_OXIM", "Pulse oximeter"),
    "glucometer": ("528401", "MDC_DEV_SPEC_PROFILE_GLUCOSE", "Blood glucose meter"),
}
# Telecare devices have no personal-health-device code: their kind is said in words.
TELECARE_WORDS = {"pendant": "Alarm pendant", "fall-detector": "Fall detector",
                  "smoke": "Smoke detector", "heat": "Heat detector", "flood": "Flood detector",
                  "door": "Door sensor"}
KIND_SYSTEM = "urn:telehub:device-kind"


def device(row: dict[str, Any]) -> dict[str, Any]:
    """A Device for a `devices` row (id, device_id, kind, serial, patient_id, active,
    last_seen_at, battery, firmware)."""
    kind = row["kind"]
    if kind in KIND_CODES:
        code, ref, words = KIND_CODES[kind]
        coding = {"system": MDC_SYSTEM, "code": code, "display": ref}
    else:
        words = TELECARE_WORDS.get(kind, kind)
        coding = {"system": KIND_SYSTEM, "code": kind, "display": words}
    out: dict[str, Any] = {
        "resourceType": "Device",
        "id": str(row["id"]),
        "identifier": [{"system": DEVICE_SYSTEM, "value": row["device_id"]}],
        "status": "active" if row["active"] else "inactive",
        "deviceName": [{"name": row["device_id"], "type": "user-friendly-name"}],
        "type": {"coding": [coding], "text": words},
    }
    if row.get("serial"):
        out["identifier"].append({"system": SERIAL_SYSTEM, "value": row["serial"]})
        out["serialNumber"] = row["serial"]
    if row.get("firmware"):
        out["version"] = [{"type": {"text": "firmware"}, "value": row["firmware"]}]
    if row.get("patient_id") is not None:
        out["patient"] = {"reference": f"Patient/{row['patient_id']}"}
    if row.get("battery") is not None:
        out["property"] = [{"type": {"text": "battery level (%)"},
                            "valueQuantity": [{"value": row["battery"], "unit": "%",
                                               "system": "http://unitsofmeasure.org",
                                               "code": "%"}]}]
    return out
