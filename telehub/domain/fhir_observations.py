"""FHIR R4 Observations as readings: the one decoder the hub (MQTT) and the API (`POST /fhir`)
share, so a reading is read the same way, with the same reason codes, whichever way it came.

Decoding only checks an Observation's shape and pulls out its fields; whether the metric,
unit, value and time are acceptable is decided by `telehub.domain.reading_checks`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from telehub.domain.codes import ReadingFlag
from telehub.domain.readings import RawReading
from telehub.domain.units import LOINC_METRICS, LOINC_SYSTEM
from telehub.errors import ValidationError

# Longest accepted reading id (the schema's reading_key limit).
READING_ID_MAX = 128
# FHIR Observation statuses that mean "a measurement to keep" ("registered" says there is no
# result yet, so a value beside it is not a measurement).
FHIR_USABLE_STATUS = frozenset({"final", "amended", "corrected", "preliminary"})


def decode_fhir(resource: Mapping[str, Any], index: int | None = None) -> RawReading:
    """A FHIR R4 Observation (LOINC code, UCUM valueQuantity, effectiveDateTime) as a reading."""
    _check_observation(resource)
    loinc = loinc_code(resource.get("code"))
    quantity = resource.get("valueQuantity")
    if not isinstance(quantity, dict) or quantity.get("value") is None:
        raise ValidationError("missing-field", "The Observation has no valueQuantity value.")
    return _reading(resource, index, loinc, quantity)


def decode_fhir_readings(resource: Mapping[str, Any], index: int | None = None
                         ) -> list[RawReading]:
    """Every reading one Observation carries: its own value, and each component whose LOINC
    code is a metric Telehub knows (an SpO2 with its pulse rate, as a pulse oximeter sends
    them together; or a compound Observation whose values are all in components).

    Components of other codes (the PHD IG's supplemental types, a blood pressure's mean), or
    without a valueQuantity (a dataAbsentReason), say something about the measurement, not a
    reading of their own, and are passed over.
    """
    _check_observation(resource)
    components = _component_readings(resource, index)
    if "valueQuantity" not in resource and components:
        return components
    main = decode_fhir(resource, index)
    return [main, *(c for c in components if c.metric != main.metric)]


def _check_observation(resource: Mapping[str, Any]) -> None:
    if resource.get("resourceType") != "Observation":
        raise ValidationError("not-an-observation", f"A FHIR '{resource.get('resourceType')}' "
                              "is not a reading; send an Observation.")
    status = resource.get("status")
    if status is not None and (not isinstance(status, str) or status not in FHIR_USABLE_STATUS):
        raise ValidationError("observation-status", f"An Observation with status "
                              f"'{str(status)[:40]}' is not a measurement to store.")


def _component_readings(resource: Mapping[str, Any], index: int | None) -> list[RawReading]:
    """The readings in `component` (those with a known LOINC code and a valueQuantity)."""
    components = resource.get("component")
    if not isinstance(components, list):
        return []
    out: list[RawReading] = []
    seen: set[str] = set()
    for component in components:
        if not isinstance(component, dict) or "valueQuantity" not in component:
            continue
        try:
            loinc = loinc_code(component.get("code"))
        except ValidationError:
            continue  # not a reading of a metric Telehub knows
        # A component without a usable value is still its reading, refused on its own by
        # the checks (not-a-number), so it neither hides nor costs the Observation's others.
        quantity = component["valueQuantity"]
        if not isinstance(quantity, dict):
            quantity = {"value": None}
        metric = LOINC_METRICS[loinc].value
        if metric in seen:
            raise ValidationError("duplicate-component", f"The Observation carries two "
                                  f"{metric} components.")
        seen.add(metric)
        out.append(_reading(resource, index, loinc, quantity))
    return out


def _reading(resource: Mapping[str, Any], index: int | None, loinc: str,
             quantity: Mapping[str, Any]) -> RawReading:
    when = resource.get("effectiveDateTime") or resource.get("effectiveInstant")
    if when is None:
        raise ValidationError("missing-field", "The Observation has no effectiveDateTime.")
    return RawReading(
        index=index,
        metric=LOINC_METRICS[loinc].value,
        value=number(quantity.get("value")),
        unit=quantity.get("code") or quantity.get("unit"),
        time=when,
        reading_id=reading_id(observation_key(resource)),
        patient_ref=fhir_subject(resource.get("subject")),
        flags=_comparator_flags(quantity.get("comparator")),
        item=resource,
        loinc=loinc,
    )


def observation_key(resource: Mapping[str, Any]) -> Any:
    """What identifies an Observation's reading: its first identifier's value, else its id."""
    identifiers = resource.get("identifier")
    key = resource.get("id")
    if isinstance(identifiers, list) and identifiers and isinstance(identifiers[0], dict):
        key = identifiers[0].get("value", key)
    return key


def _comparator_flags(comparator: Any) -> tuple[str, ...]:
    """FHIR's way of saying a value is beyond the measuring range: "<0.6" is a meter's LO."""
    if comparator in ("<", "<="):
        return (ReadingFlag.LO.value,)
    if comparator in (">", ">="):
        return (ReadingFlag.HI.value,)
    if comparator is not None:
        raise ValidationError("bad-comparator", f"The valueQuantity comparator "
                              f"'{str(comparator)[:10]}' is not one of <, <=, >=, >.")
    return ()


def loinc_code(code: Any) -> str:
    """The first LOINC code of a CodeableConcept that names a metric Telehub knows."""
    codings = code.get("coding") if isinstance(code, dict) else None
    if not isinstance(codings, list):
        raise ValidationError("missing-field", "The Observation has no code.coding.")
    seen = []
    for coding in codings:
        if isinstance(coding, dict) and coding.get("system") == LOINC_SYSTEM:
            code = coding.get("code")
            seen.append(str(code)[:20])
            if isinstance(code, str) and code in LOINC_METRICS:
                return code
    raise ValidationError("unknown-metric", "The Observation's LOINC code "
                          f"({', '.join(seen) or 'none'}) is not a metric Telehub knows.")


def fhir_subject(subject: Any) -> str | None:
    """The patient a FHIR subject names: 'Patient/<id>' reference or an identifier value."""
    if not isinstance(subject, dict):
        return None
    identifier = subject.get("identifier")
    if isinstance(identifier, dict) and identifier.get("value") is not None:
        return patient_ref(identifier["value"])
    reference = subject.get("reference")
    if isinstance(reference, str) and reference:
        return patient_ref(reference.rsplit("/", 1)[-1])
    return None


def patient_ref(value: Any) -> str | None:
    """The patient a payload's `patient` (text, number or FHIR subject) names, if any."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, dict):
        return fhir_subject(value)
    text = str(value).strip()
    return text or None


def number(value: Any) -> Any:
    """Integers become floats (a huge one inf, refused later as not-a-number); text stays text."""
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            return math.inf
    return value


def reading_id(value: Any) -> str | None:
    """A reading's id as stored (`reading_key`): 1–128 printable characters."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValidationError("bad-reading-id", "The reading id must be text or a whole number.")
    text = str(value).strip()
    if not text or len(text) > READING_ID_MAX or not text.isprintable():
        raise ValidationError("bad-reading-id", f"The reading id must be 1–{READING_ID_MAX} "
                              f"printable characters (this one has {len(text):,}).")
    return text
