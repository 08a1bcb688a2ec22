"""Telecare events of simulated patients: the fall of a `fall` scenario and pendant presses.

Reproducible like the readings: a pendant press on a given day is drawn from a generator
seeded by (caseload seed, patient key, "pendant", day). Smoke, heat and flood detectors
stay quiet: a simulation never raises a false fire or flood.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from device_simulators.physiology import LONDON, PatientModel

# Pendant presses happen in the waking day (local hours).
PENDANT_HOURS = (8.0, 21.0)


@dataclass(frozen=True)
class DeviceEvent:
    """One event a telecare device sends: when, which device, what happened."""

    time: datetime          # UTC, whole seconds
    device_id: str
    event: str              # fall, pendant (the kinds the hub accepts)


def _device_of(model: PatientModel, kind: str) -> str | None:
    for device in model.spec.devices:
        if device.kind == kind:
            return device.device_id
    return None


def patient_events(model: PatientModel, seed: int, day: date) -> list[DeviceEvent]:
    """One patient's telecare events on local day `day`, in time order."""
    out: list[DeviceEvent] = []
    fall = model.scenario.falls_at()
    detector = _device_of(model, "fall-detector")
    if fall is not None and detector is not None and fall.astimezone(LONDON).date() == day:
        out.append(DeviceEvent(fall.astimezone(UTC).replace(microsecond=0), detector, "fall"))
    pendant = _device_of(model, "pendant")
    every = model.spec.pendant_every_days
    if pendant is not None and every > 0:
        rng = random.Random(f"{seed}:{model.spec.key}:pendant:{day.isoformat()}")
        if rng.random() < min(1.0 / every, 1.0):
            hour = rng.uniform(*PENDANT_HOURS)
            local = datetime.combine(day, time(0), LONDON) + timedelta(hours=hour)
            out.append(DeviceEvent(local.astimezone(UTC).replace(microsecond=0), pendant,
                                   "pendant"))
    out.sort(key=lambda e: e.time)
    return out


def events_between(models: Sequence[PatientModel], seed: int, start: datetime,
                   end: datetime) -> Iterator[DeviceEvent]:
    """Every patient's telecare events with start <= time < end, in time order (lazily)."""
    watched = [m for m in models if any(d.telecare for d in m.spec.devices)]
    day = start.astimezone(LONDON).date()
    last = end.astimezone(LONDON).date()
    while watched and day <= last:
        merged = heapq.merge(*(patient_events(m, seed, day) for m in watched),
                             key=lambda e: e.time)
        for item in merged:
            if start <= item.time < end:
                yield item
        day += timedelta(days=1)
