"""Patient physiology: personal baseline, day-to-day noise, circadian pattern, schedule, adherence.

`PatientModel.measurements(day)` gives one local day's readings for one patient,
as the patient's devices would take them. Everything is drawn from random
generators seeded by (caseload seed, patient key, day), so a series is the same
whenever and in whatever order it is generated.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from device_simulators.scenarios import FAULT_KINDS, Scenario, draw_scenario
from telehub.domain.roster import Caseload, PatientSpec
from telehub.domain.units import Metric

LONDON = ZoneInfo("Europe/London")
# Baselines when the caseload gives none (a well adult; COPD a little lower).
DEFAULT_BASELINE = {"weight": 78.0, "spo2": 96.0, "pulse": 72.0, "glucose": 7.0}
# Day-to-day noise (standard deviation, and a bound so a stable patient never
# crosses an alert threshold by noise alone: the bound keeps weight within
# ±0.4 kg, so no 2 kg gain or 1 kg overnight rise happens by chance).
NOISE = {"weight": (0.2, 0.4), "spo2": (0.6, 1.4), "pulse": (3.0, 8.0), "glucose": (0.12, 0.25)}
# Oximeter readings spoilt by motion or poor perfusion (flagged low quality): part of
# the faulty-device scenario, so that every alert in a demo has a scenario behind it.
LOW_QUALITY_CHANCE = 0.15
# An unwell patient measures more often (told to check when breathless or shaky):
# readings through the day, so a recent one is there for the urgent (red) rules.
SYMPTOMATIC_PER_DAY = 5
LATE_CHANCE = 0.07            # readings taken one to three hours after the planned time
DAY_TIMES = {                 # local clock times of the planned readings per day
    1: (7.5,), 2: (8.0, 19.5), 3: (8.0, 13.0, 19.0), 4: (7.5, 12.0, 17.5, 22.0),
    5: (7.5, 11.0, 14.5, 18.0, 21.5),
}
WINDOW_TIMES = {"morning": 7.5, "evening": 19.0, "any": 9.0}
# Glucose before meals: the dawn rise before breakfast, the bedtime snack.
MEAL_OFFSET = {7: 0.5, 12: 0.0, 17: 0.3, 22: 0.8, 8: 0.5, 19: 0.3, 13: 0.0}


@dataclass(frozen=True)
class Measurement:
    """One reading as a device takes it (value in the canonical unit)."""

    time: datetime              # UTC
    device_id: str
    metric: Metric              # weight, spo2 (with pulse) or glucose
    value: float
    pulse: float | None = None
    low_quality: bool = False
    fault: str | None = None    # implausible, wrong-unit or malformed
    offline: bool = False       # taken while the device is off the network


def planned_times(per_day: int, window: str) -> tuple[float, ...]:
    """Local hours of the readings a care plan asks for."""
    if per_day == 1:
        return (WINDOW_TIMES[window],)
    if per_day in DAY_TIMES:
        return DAY_TIMES[per_day]
    step = 15.0 / (per_day - 1)
    return tuple(7.0 + i * step for i in range(per_day))


class PatientModel:
    """The physiology and behaviour of one simulated patient."""

    def __init__(self, spec: PatientSpec, seed: int, anchor: datetime) -> None:
        self.spec = spec
        self._seed = seed
        self.baseline = {**DEFAULT_BASELINE, **spec.baseline}
        rng = random.Random(f"{seed}:{spec.key}:scenario")
        self.scenario: Scenario = draw_scenario(
            spec.scenario, anchor + timedelta(days=spec.scenario_start_days), rng)

    def measurements(self, day: date) -> list[Measurement]:
        """The readings of local day `day`, in time order."""
        rng = random.Random(f"{self._seed}:{self.spec.key}:{day.isoformat()}")
        out: list[Measurement] = []
        for metric_name, slot in sorted(self.spec.schedule.items()):
            metric = Metric(metric_name)
            if metric is Metric.PULSE:
                continue  # pulse comes with the SpO2 reading of the oximeter
            device = self.spec.device_for(metric)
            if device is None:
                continue
            per_day = int(slot["per_day"])
            if self.scenario.unwell(metric.value, _midday(day)):
                per_day = max(per_day, SYMPTOMATIC_PER_DAY)
            hours = planned_times(per_day, str(slot.get("window", "any")))
            for i, hour in enumerate(hours):
                t = self._taken_at(day, hour, rng)
                k = day.toordinal() * len(hours) + i
                if not self.scenario.measuring(t) or self._missed(metric, k):
                    continue
                out.append(self._measure(metric, device.device_id, t, rng))
        out.sort(key=lambda m: m.time)
        return out

    def _taken_at(self, day: date, hour: float, rng: random.Random) -> datetime:
        minutes = hour * 60 + max(min(rng.gauss(0, 20), 45), -45)
        if rng.random() < LATE_CHANCE:
            minutes += rng.uniform(60, 180)
        local = datetime.combine(day, time(0), LONDON) + timedelta(minutes=minutes)
        return local.astimezone(UTC).replace(microsecond=0)

    def _missed(self, metric: Metric, k: int) -> bool:
        """Whether planned reading k is missed; never two in a row (people notice)."""
        def skipped(j: int) -> bool:
            draw = random.Random(f"{self._seed}:{self.spec.key}:{metric}:{j}").random()
            return draw > self.spec.adherence
        return skipped(k) and not skipped(k - 1)

    def _measure(self, metric: Metric, device_id: str, t: datetime,
                 rng: random.Random) -> Measurement:
        scenario = self.scenario
        fault = rng.choice(FAULT_KINDS) if (scenario.faulty(t)
                                            and rng.random() < scenario.fault_rate) else None
        offline = scenario.offline(t)
        local_hour = t.astimezone(LONDON).hour
        if metric is Metric.WEIGHT:
            # Heavier through the day as people eat and drink.
            circadian = 0.5 * min(max(local_hour - 7, 0), 12) / 12
            value = (self.baseline["weight"] + circadian + scenario.weight_offset(t)
                     + _noise(rng, "weight"))
            return Measurement(t, device_id, metric, round(value, 2), fault=fault,
                               offline=offline)
        if metric is Metric.SPO2:
            night = -1.0 if local_hour < 6 else 0.0
            spo2 = self.baseline["spo2"] + night + scenario.spo2_offset(t) + _noise(rng, "spo2")
            # Pulse peaks in the afternoon and is lowest at night.
            swing = 5.0 * math.sin(math.pi * (local_hour - 8) / 12) if 8 <= local_hour <= 20 else -3
            pulse = (self.baseline["pulse"] + swing + scenario.pulse_offset(t)
                     + _noise(rng, "pulse"))
            low_quality = scenario.faulty(t) and rng.random() < LOW_QUALITY_CHANCE
            if low_quality:
                spo2 -= rng.uniform(2.0, 6.0)
            return Measurement(t, device_id, metric, float(min(round(spo2), 100)),
                               pulse=float(round(pulse)), low_quality=low_quality, fault=fault,
                               offline=offline)
        return Measurement(t, device_id, metric, round(self._glucose(t, local_hour, rng), 1),
                           fault=fault, offline=offline)

    def _glucose(self, t: datetime, local_hour: int, rng: random.Random) -> float:
        scenario = self.scenario
        if scenario.name == "hypo-episodes" and scenario.days_in(t) >= 0:
            day_rng = random.Random(f"{self._seed}:{self.spec.key}:hypo:{t.date().isoformat()}")
            first_day = scenario.days_in(t) < 1.0
            if (first_day or day_rng.random() < scenario.hypo_day_chance) and rng.random() < 0.6:
                return rng.uniform(2.5, 3.7)
        centre = scenario.glucose_level(t, self.baseline["glucose"]) + MEAL_OFFSET.get(
            local_hour, 0.3)
        return max(centre * (1.0 + _noise(rng, "glucose")), 0.8)


def _midday(day: date) -> datetime:
    return datetime.combine(day, time(12), LONDON)


def _noise(rng: random.Random, metric: str) -> float:
    sd, bound = NOISE[metric]
    return max(min(rng.gauss(0.0, sd), bound), -bound)


def caseload_models(caseload: Caseload, anchor: datetime) -> list[PatientModel]:
    """A model per patient of the caseload; `anchor` is "now" for scenario start offsets."""
    return [PatientModel(p, caseload.seed, anchor) for p in caseload.patients]


def measurements_between(models: Sequence[PatientModel], start: datetime,
                         end: datetime) -> Iterator[Measurement]:
    """Every patient's readings with start <= time < end, in time order (lazily, day by day)."""
    day = start.astimezone(LONDON).date()
    last = end.astimezone(LONDON).date()
    while day <= last:
        merged = heapq.merge(*(m.measurements(day) for m in models), key=lambda m: m.time)
        for item in merged:
            if start <= item.time < end:
                yield item
        day += timedelta(days=1)
