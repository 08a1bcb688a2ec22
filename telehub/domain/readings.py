"""Domain types for readings as they pass from ingest to the rules engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from telehub.domain.units import Metric, Unit


@dataclass(frozen=True)
class RawReading:
    """One reading as a device sent it, before validation and unit conversion."""

    index: int | None              # position in a batch; None for a single-reading message
    metric: str | None
    value: Any
    unit: str | None
    time: Any
    reading_id: str | None
    seq: int | None = None
    patient_ref: str | None = None  # a patient the payload names (checked, never trusted)
    flags: tuple[str, ...] = ()
    item: Any = None                # the item as decoded; serialised only if refused
    # For FHIR, the metric came from a LOINC code; None for native readings.
    loinc: str | None = None


@dataclass(frozen=True)
class NewReading:
    """A validated, normalised reading ready to store (patient from the device's registration)."""

    time: datetime            # device time, timezone-aware
    patient_id: int
    device_id: int            # devices.id
    metric: Metric
    value: float              # canonical unit
    unit: Unit                # canonical unit
    raw_value: float
    raw_unit: Unit
    reading_key: str
    seq: int | None = None
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class StoredReading:
    """A reading that the current transaction stored for the first time."""

    time: datetime
    patient_id: int
    device_id: int
    metric: Metric
    value: float
    unit: Unit
    raw_value: float
    raw_unit: Unit
    received_at: datetime
    reading_key: str                  # the device's id for it: two readings may share a time
    flags: tuple[str, ...] = field(default=())
