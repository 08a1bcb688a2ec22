"""Checking a FHIR upload's entries against the signed-in device: each entry's own outcome,
and for each acceptable Observation the readings it would store and the message the hub gets.

The readings are decoded and checked by the hub's own code (`telehub.domain`), so an entry
is refused here for exactly the reasons, and with the reason codes, the hub would refuse it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from api.device_auth import SignedInDevice
from api.render.operation_outcome import Issue
from api.schemas.fhir_upload import BundleEntry, EntryRequest
from telehub.domain.fhir_observations import decode_fhir_readings, fhir_subject
from telehub.domain.nhs_number import normalise_nhs_number
from telehub.domain.reading_checks import check_reading
from telehub.domain.readings import NewReading
from telehub.domain.units import DISPLAY_ID_SYSTEM, NHS_NUMBER_SYSTEM
from telehub.errors import ValidationError

MDC_SYSTEM = "urn:iso:std:iso:11073:10101"
# MDC_ATTR_TIME_ABS: a PHD IG gateway's record of the device's clock, which it has already
# used to correct the measurement times; not a measurement itself.
TIME_STAMP_CODES = frozenset({"67975"})
TIME_STAMP_PROFILE = "PhdCoincidentTimeStampObservation"
GATEWAY_PROFILE = "PhgDevice"
TAKEN = frozenset({"Patient", "Device", "Observation"})


@dataclass(frozen=True)
class Context:
    """What every entry is checked against."""

    device: SignedInDevice
    registered: Mapping[str, str]  # a device name the upload uses -> that registered device
    now: datetime
    future_tolerance_s: int
    horizon_days: int


@dataclass
class Entry:
    """One entry of the upload: its answer, and what it stores if it is an Observation."""

    index: int
    kind: str
    status: int = 0
    issue: Issue | None = None
    location: str | None = None
    readings: list[NewReading] = field(default_factory=list)
    conditional: bool = False             # ifNoneExist: matched on the identifier alone
    own_device: bool = False              # a Device entry that is the signed-in device
    warnings: list[Issue] = field(default_factory=list)  # readings of it that were refused
    message: dict[str, Any] | None = None  # the Observation as the hub is given it

    def answer(self, status: int, text: str, location: str | None = None) -> None:
        """Settle the entry with an informational outcome."""
        self.status, self.location = status, location
        self.issue = Issue(text, code="informational", severity="information")

    def refuse(self, err: ValidationError, status: int = 422) -> None:
        """Settle the entry as refused, with the reason code."""
        self.status, self.readings, self.message, self.warnings = status, [], None, []
        self.issue = Issue(err.message, code="not-supported" if status == 405 else "invalid",
                           reason=err.code, expression=(f"Bundle.entry[{self.index}]",))

    def outcome(self) -> tuple[Issue, ...]:
        """The issues of the entry's OperationOutcome: its answer, then any warnings."""
        assert self.issue is not None
        return (self.issue, *self.warnings)

    @property
    def status_line(self) -> str:
        """`Bundle.entry.response.status`: the code and its phrase."""
        return f"{self.status} {HTTPStatus(self.status).phrase}"


def check_entries(entries: Sequence[BundleEntry], ctx: Context) -> list[Entry]:
    """An Entry per upload entry: Patients and Devices settled, Observations checked."""
    out = [Entry(i, _kind(e.resource)) for i, e in enumerate(entries)]
    by_url = {e.fullUrl: i for i, e in enumerate(entries) if e.fullUrl}
    device_urls = {_reference(e.resource.get("device")) for e in entries
                   if e.resource.get("resourceType") == "Observation"}
    for entry, raw in zip(out, entries, strict=True):
        try:
            if entry.kind not in TAKEN:
                raise ValidationError("unsupported-resource", f"A {entry.kind} is not taken: "
                                      "Telehub stores Observations of registered devices "
                                      "(with their Patient and Device).")
            _check_request(raw.request, entry.kind)
            if entry.kind == "Patient":
                entry.answer(200, "This is the patient the device is registered to.",
                             f"Patient/{_patient(raw.resource, ctx.device)[1]}")
            elif entry.kind == "Device":
                _device_entry(entry, raw, ctx, raw.fullUrl in device_urls)
        except ValidationError as err:
            entry.refuse(err, 405 if err.code == "unsupported-method" else 422)
    for entry, raw in zip(out, entries, strict=True):
        if entry.kind == "Observation" and entry.status == 0:
            try:
                _observation(entry, raw, ctx, out, by_url)
            except ValidationError as err:
                entry.refuse(err)
    return out


def device_names(entries: Sequence[BundleEntry]) -> set[str]:
    """Every device name (identifier value, serial number, reference id) the upload uses."""
    names: set[str] = set()
    for entry in entries:
        resource = entry.resource
        if resource.get("resourceType") == "Device":
            names.update(_device_names(resource))
        device = resource.get("device")
        reference = _reference(device)
        if reference is not None:
            names.add(reference.rsplit("/", 1)[-1])
        elif isinstance(device, dict) and isinstance(device.get("identifier"), dict):
            names.add(str(device["identifier"].get("value", "")).strip())
    return {n for n in names if n}


def _kind(resource: Mapping[str, Any]) -> str:
    kind = resource.get("resourceType")
    return kind[:40] if isinstance(kind, str) and kind else "resource without a resourceType"


def _check_request(request: EntryRequest, kind: str) -> None:
    if request.method.upper() != "POST":
        raise ValidationError("unsupported-method", f"Only create (POST) is supported, not "
                              f"{request.method[:10]}.")
    if request.url.split("?", 1)[0].strip("/") != kind:
        raise ValidationError("bad-request-url", f"The request url '{request.url[:60]}' does "
                              f"not create a {kind[:40]}.")


def _patient(resource: Mapping[str, Any], device: SignedInDevice) -> tuple[str, int]:
    """(the matched identifier value, the patient's id) when the Patient is the device's."""
    assert device.patient_id is not None
    identifiers = _dicts(resource.get("identifier"))
    if not identifiers:
        raise ValidationError("missing-field", "The Patient has no identifier: send the NHS "
                              f"number ({NHS_NUMBER_SYSTEM}) or the patient's Telehub key "
                              f"({DISPLAY_ID_SYSTEM}).")
    matched = None
    for identifier in identifiers:
        system, value = identifier.get("system"), str(identifier.get("value", "")).strip()
        if system == NHS_NUMBER_SYSTEM and normalise_nhs_number(value) != device.nhs_number:
            matched = None  # an NHS number of anyone else outweighs every other key
            break
        if matched is None and _names_patient(device, system, value):
            matched = value
    if matched is None:
        raise ValidationError("patient-mismatch", "The Patient names a patient other than the "
                              f"one device '{device.device_id}' is registered to (by NHS "
                              "number, Telehub key or the gateway's key mapped to the "
                              "device).")
    return matched, device.patient_id


def _names_patient(device: SignedInDevice, system: Any, value: str) -> bool:
    """Whether an identifier names the device's patient."""
    if system == NHS_NUMBER_SYSTEM:
        return normalise_nhs_number(value) == device.nhs_number
    if device.key_value is not None and value == device.key_value:
        return device.key_system is None or system == device.key_system
    return value in (device.display_id, str(device.patient_id))


def _device_names(resource: Mapping[str, Any]) -> list[str]:
    names = [str(i.get("value")).strip() for i in _dicts(resource.get("identifier"))
             if i.get("value") is not None]
    if resource.get("serialNumber") is not None:
        names.append(str(resource["serialNumber"]).strip())
    return [n for n in names if n]


def _own(names: Sequence[str], device: SignedInDevice) -> bool:
    return device.device_id in names or (device.serial is not None and device.serial in names)


def _device_entry(entry: Entry, raw: BundleEntry, ctx: Context, measures: bool) -> None:
    """The PhdDevice is the signed-in device; a gateway (PhgDevice) is noted, not kept."""
    names = _device_names(raw.resource)
    if _own(names, ctx.device):
        entry.answer(200, f"This is device '{ctx.device.device_id}', registered to the patient.")
        entry.own_device = True
        return
    _refuse_other_device(names, ctx)
    if not measures or _has_profile(raw.resource, GATEWAY_PROFILE):
        entry.answer(200, "The gateway is noted; Telehub keeps no record of gateways.")
        return
    raise ValidationError("unknown-device", "No registered device has this Device's identifier "
                          "or serial number: register it to the patient first.")


def _refuse_other_device(names: Sequence[str], ctx: Context) -> None:
    others = sorted({ctx.registered[n] for n in names if n in ctx.registered}
                    - {ctx.device.device_id})
    if others:
        raise ValidationError("other-device", f"Device '{others[0]}' is registered, but the "
                              f"upload signed in as '{ctx.device.device_id}': upload each "
                              "device's readings signed in as that device.")


def _observation(entry: Entry, raw: BundleEntry, ctx: Context, entries: Sequence[Entry],
                 by_url: Mapping[str, int]) -> None:
    resource = raw.resource
    if _is_time_stamp(resource):
        entry.answer(200, "A device clock record is not a measurement; it is not kept.")
        return
    _check_observation_device(resource, ctx, entries, by_url)
    patient_ref = _subject_patient(resource, ctx, entries, by_url)
    message = dict(resource)
    identifiers = resource.get("identifier")
    if raw.request.ifNoneExist is not None:
        message["identifier"] = _conditional_identifiers(raw.request.ifNoneExist, identifiers)
        entry.conditional = True
    message.pop("subject", None)
    if patient_ref is not None:
        message["subject"] = {"identifier": {"value": patient_ref}}
    assert ctx.device.patient_id is not None
    # As the hub does: each reading of the Observation (an SpO2 and its pulse) stands alone,
    # so a bad pulse component is told as a warning and costs the good SpO2 nothing.
    refused: list[tuple[str | None, ValidationError]] = []
    for decoded in decode_fhir_readings(message, None):
        try:
            entry.readings.append(check_reading(
                decoded, patient_id=ctx.device.patient_id, device_pk=ctx.device.pk,
                patient_refs=ctx.device.patient_refs, now=ctx.now,
                future_tolerance_s=ctx.future_tolerance_s, horizon_days=ctx.horizon_days))
        except ValidationError as err:
            refused.append((decoded.metric, err))
    if not entry.readings:
        raise refused[0][1]
    entry.warnings = [Issue(f"The {metric} reading is not stored: {err.message}",
                            severity="warning", reason=err.code,
                            expression=(f"Bundle.entry[{entry.index}]",))
                      for metric, err in refused]
    if patient_ref is not None:  # checked: the hub is told the patient by Telehub key only
        message["subject"] = {"identifier": {"system": DISPLAY_ID_SYSTEM,
                                             "value": ctx.device.display_id}}
    entry.message = message


def _is_time_stamp(resource: Mapping[str, Any]) -> bool:
    if _has_profile(resource, TIME_STAMP_PROFILE):
        return True
    code = resource.get("code")
    codings = _dicts(code.get("coding") if isinstance(code, dict) else None)
    return "valueQuantity" not in resource and any(
        c.get("system") == MDC_SYSTEM and c.get("code") in TIME_STAMP_CODES for c in codings)


def _has_profile(resource: Mapping[str, Any], name: str) -> bool:
    meta = resource.get("meta")
    profiles = meta.get("profile") if isinstance(meta, dict) else None
    return isinstance(profiles, list) and any(str(p).endswith(name) for p in profiles)


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The objects of a JSON list (anything else holds none)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _reference(value: Any) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("reference"), str):
        return str(value["reference"])
    return None


def _check_observation_device(resource: Mapping[str, Any], ctx: Context,
                              entries: Sequence[Entry], by_url: Mapping[str, int]) -> None:
    """An Observation's device, when it names one, is the signed-in device."""
    device = resource.get("device")
    if device is None:
        return
    reference = _reference(device)
    if reference is not None and reference in by_url:
        target = entries[by_url[reference]]
        if not target.own_device:
            raise ValidationError("device-refused", f"Its device, entry {target.index}, is not "
                                  "a registered device of this patient.")
        return
    name = reference.rsplit("/", 1)[-1] if reference else None
    identifier = device.get("identifier") if isinstance(device, dict) else None
    if name is None and isinstance(identifier, dict):
        name = str(identifier.get("value", "")).strip() or None
    if name is None or not _own([name], ctx.device):
        _refuse_other_device([name] if name else [], ctx)
        raise ValidationError("unknown-device", "The Observation's device is not the device "
                              f"'{ctx.device.device_id}' that signed in.")


def _subject_patient(resource: Mapping[str, Any], ctx: Context, entries: Sequence[Entry],
                     by_url: Mapping[str, int]) -> str | None:
    """The patient ref an Observation's subject names (checked later, as the hub checks it)."""
    subject = resource.get("subject")
    reference = _reference(subject)
    if reference is not None and reference in by_url:
        target = entries[by_url[reference]]
        if target.kind == "Device":
            return None  # about the device itself: the patient is the device's
        if target.kind != "Patient" or target.status != 200:
            raise ValidationError("patient-mismatch", f"Its subject, entry {target.index}, is "
                                  "not the patient the device is registered to.")
        return str(ctx.device.patient_id)
    identifier = subject.get("identifier") if isinstance(subject, dict) else None
    if isinstance(identifier, dict) and identifier.get("value") is not None:
        if not _names_patient(ctx.device, identifier.get("system"),
                              str(identifier["value"]).strip()):
            raise ValidationError("patient-mismatch", "The Observation's subject names a "
                                  "patient other than the one this device is registered to.")
        return str(ctx.device.patient_id)
    return fhir_subject(subject)


def _conditional_identifiers(condition: str, identifiers: Any) -> list[Any]:
    """The Observation's identifiers, the one `ifNoneExist` names first (the reading's key)."""
    params = parse_qsl(condition.removeprefix("?"), keep_blank_values=True)
    if len(params) != 1 or params[0][0] != "identifier":
        raise ValidationError("unsupported-condition", "ifNoneExist may only name the "
                              "Observation's identifier: identifier=<system>|<value>.")
    token = params[0][1]
    system, _, value = token.rpartition("|") if "|" in token else (None, "", token)
    listed = _dicts(identifiers)
    for position, identifier in enumerate(listed):
        if str(identifier.get("value")) == value and (
                system is None or (identifier.get("system") or "") == system):
            return [identifier, *listed[:position], *listed[position + 1:]]
    raise ValidationError("unsupported-condition", "ifNoneExist names an identifier the "
                          "Observation does not carry; Telehub matches on the Observation's "
                          "own identifier.")
