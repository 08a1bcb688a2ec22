"""Domain types for readings as they pass from ingest to the rules engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from telehub.domain.units import Metric, Unit


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
    flags: tuple[str, ...] = field(default=())
