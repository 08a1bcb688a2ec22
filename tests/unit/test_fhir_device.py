"""Every kind of device Telehub registers renders as a FHIR Device that validates (R4B)."""

from __future__ import annotations

import pytest

from api.render.fhir_device import MDC_SYSTEM, device
from telehub.domain.codes import TELECARE_KINDS, DeviceKind

pytest.importorskip("fhir.resources.R4B")
from fhir.resources.R4B.device import Device


@pytest.mark.parametrize("kind", [k.value for k in DeviceKind])
def test_every_device_kind_is_a_valid_device(kind: str) -> None:
    row = {"id": 7, "device_id": f"{kind}-7", "kind": kind, "serial": "SN1", "patient_id": 3,
           "active": True, "battery": 80, "firmware": "1.2", "last_seen_at": None}
    d = Device.model_validate(device(row))
    assert d.patient.reference == "Patient/3" and d.serialNumber == "SN1"
    assert (d.type.coding[0].system == MDC_SYSTEM) == (kind not in TELECARE_KINDS)
    assert d.type.text and d.type.text != kind
