"""Named clinical scenarios: how a patient's readings depart from their baseline, and from when.

Each scenario is a pure function of time given its parameters, which are drawn
once per patient from the caseload seed, so a scenario is reproducible.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from telehub.domain.roster import SCENARIOS

DAY = timedelta(days=1)
FAULT_KINDS = ("implausible", "wrong-unit", "malformed")


@dataclass(frozen=True)
class Scenario:
    """One patient's scenario: its name, when it starts and its drawn parameters."""

    name: str
    start: datetime
    # hf-decompensation: fluid gain per day and for how many days it continues.
    gain_kg_per_day: float = 0.0
    gain_days: float = 0.0
    # copd-exacerbation: how far SpO2 falls, how much the pulse rises, over how long.
    spo2_drop: float = 0.0
    pulse_rise: float = 0.0
    ramp_days: float = 1.0
    episode_days: float = 0.0
    # hypo-episodes: chance that a day after the start carries a hypo.
    hypo_day_chance: float = 0.0
    # hyperglycaemia: the level glucose climbs to.
    glucose_peak: float = 0.0
    # device-offline: how long the device stays off the network.
    offline_days: float = 0.0
    # faulty-device: share of transmissions that are faulty.
    fault_rate: float = 0.0

    def days_in(self, t: datetime) -> float:
        """Days since the scenario started (negative before it)."""
        return (t - self.start) / DAY

    def weight_offset(self, t: datetime) -> float:
        """Fluid retained (kg) at `t`."""
        if self.name != "hf-decompensation":
            return 0.0
        return self.gain_kg_per_day * min(max(self.days_in(t), 0.0), self.gain_days)

    def _episode(self, t: datetime) -> float:
        """0 outside an exacerbation, ramping to 1 over `ramp_days`, back to 0 at its end."""
        d = self.days_in(t)
        if d <= 0 or d >= self.episode_days + self.ramp_days:
            return 0.0
        if d < self.ramp_days:
            return d / self.ramp_days
        if d > self.episode_days:
            return 1.0 - (d - self.episode_days) / self.ramp_days
        return 1.0

    def spo2_offset(self, t: datetime) -> float:
        """Points of SpO2 below baseline at `t`."""
        return -self.spo2_drop * self._episode(t) if self.name == "copd-exacerbation" else 0.0

    def pulse_offset(self, t: datetime) -> float:
        """Beats/min above baseline at `t`."""
        return self.pulse_rise * self._episode(t) if self.name == "copd-exacerbation" else 0.0

    def glucose_level(self, t: datetime, baseline: float) -> float:
        """The level pre-meal glucose centres on at `t` (mmol/L)."""
        if self.name != "hyperglycaemia" or self.days_in(t) <= 0:
            return baseline
        climb = min(self.days_in(t) / self.ramp_days, 1.0)
        return baseline + (self.glucose_peak - baseline) * climb

    def unwell(self, metric: str, t: datetime) -> bool:
        """True while the scenario makes the patient check `metric` more often than planned."""
        if self.name == "copd-exacerbation":
            return metric == "spo2" and self._episode(t) > 0
        if self.name in ("hypo-episodes", "hyperglycaemia"):
            return metric == "glucose" and self.days_in(t) >= 0
        return False

    def measuring(self, t: datetime) -> bool:
        """False once a non-adherent patient has stopped measuring."""
        return not (self.name == "nonadherent" and self.days_in(t) >= 0)

    def offline(self, t: datetime) -> bool:
        """True while the device is off the network (readings kept on the device)."""
        return self.name == "device-offline" and 0 <= self.days_in(t) < self.offline_days

    def falls_at(self) -> datetime | None:
        """When the fall detector reports the fall of a `fall` scenario (its start)."""
        return self.start if self.name == "fall" else None

    def faulty(self, t: datetime) -> bool:
        """True from the start of a faulty-device scenario."""
        return self.name == "faulty-device" and self.days_in(t) >= 0


def draw_scenario(name: str, start: datetime, rng: random.Random) -> Scenario:
    """The scenario `name` starting at `start`, with parameters drawn from `rng`."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}")
    if name == "hf-decompensation":
        # Published signature: 0.5–1 kg/day over several days; the upper part of that
        # range keeps the gain ≥ 2 kg in 3 days through day-to-day noise.
        return Scenario(name, start, gain_kg_per_day=rng.uniform(0.8, 1.0),
                        gain_days=rng.uniform(5.0, 8.0))
    if name == "copd-exacerbation":
        return Scenario(name, start, spo2_drop=rng.uniform(4.0, 5.0),
                        pulse_rise=rng.uniform(12.0, 20.0), ramp_days=rng.uniform(1.0, 1.5),
                        episode_days=rng.uniform(5.0, 8.0))
    if name == "hypo-episodes":
        return Scenario(name, start, hypo_day_chance=rng.uniform(0.4, 0.6))
    if name == "hyperglycaemia":
        return Scenario(name, start, glucose_peak=rng.uniform(17.0, 24.0),
                        ramp_days=rng.uniform(1.0, 2.0))
    if name == "device-offline":
        return Scenario(name, start, offline_days=rng.uniform(1.5, 2.0))
    if name == "faulty-device":
        return Scenario(name, start, fault_rate=rng.uniform(0.2, 0.3))
    return Scenario(name, start)
