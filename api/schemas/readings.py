"""Models of the reading routes: stored and bucketed readings, and readings posted over HTTP."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import _Out
from telehub.domain.units import Metric


class Bucket(StrEnum):
    """Readings as stored, or aggregated per hour or per UTC day."""

    RAW = "raw"
    HOUR = "hour"
    DAY = "day"


class ReadingOut(_Out):
    """One stored reading (canonical unit, with what the device sent)."""

    time: datetime
    metric: Metric
    value: float
    unit: str
    raw_value: float
    raw_unit: str
    flags: list[str]
    device_id: str
    received_at: datetime


class BucketOut(_Out):
    """A metric's min/max/mean over one hour or UTC day."""

    start: datetime
    metric: Metric
    min: float
    max: float
    mean: float
    n: int


class ReadingsOut(BaseModel):
    """A patient's readings: `raw` when bucket=raw, else `buckets`."""

    patient_id: int
    bucket: Bucket
    start: datetime
    end: datetime
    raw: list[ReadingOut] = []
    buckets: list[BucketOut] = []


class ReadingIn(BaseModel):
    """One reading as a gateway sends it (the MQTT native payload)."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(None, min_length=1, max_length=128,
                           description="Unique per device; the reading's time when omitted.")
    metric: Metric
    value: float | Literal["LO", "HI", "lo", "hi"] = Field(
        description="The number, or a glucose meter's LO / HI outside its measuring range.")
    unit: str | None = Field(None, description="Default: the metric's canonical unit; "
                             "required for glucose (mmol/L or mg/dL).")
    time: datetime
    seq: int | None = None
    flags: list[str] = []
    pulse: float | None = Field(None, description="An oximeter's pulse with its SpO2.")


class ReadingsIn(BaseModel):
    """A gateway's upload: one or more readings of the device it authenticates as."""

    model_config = ConfigDict(extra="forbid")

    readings: list[ReadingIn] = Field(min_length=1, max_length=10_000)


class ReadingsAccepted(BaseModel):
    """Readings passed on to the hub (stored by it, idempotently, after validation)."""

    device_id: str
    accepted: int
    topic: str

