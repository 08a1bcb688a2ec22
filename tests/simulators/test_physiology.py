"""Physiology and scenarios: each scenario shows the signature it names; series are reproducible."""

from __future__ import annotations

import itertools
import statistics
from datetime import UTC, date, datetime, timedelta

import pytest

from device_simulators.physiology import (
    LONDON,
    Measurement,
    PatientModel,
    caseload_models,
    measurements_between,
)
from telehub.domain.roster import Caseload, DeviceSpec, PatientSpec
from telehub.domain.units import Metric, Unit

ANCHOR = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SCHEDULES = {
    "heart-failure": {"weight": {"per_day": 1, "window": "morning"}},
    "copd": {"spo2": {"per_day": 2, "window": "any"}, "pulse": {"per_day": 2, "window": "any"}},
    "type1-diabetes": {"glucose": {"per_day": 4, "window": "any"}},
}
DEVICES = {"heart-failure": DeviceSpec("sc-1", "scale", Unit.KG),
           "copd": DeviceSpec("ox-1", "oximeter", Unit.PERCENT),
           "type1-diabetes": DeviceSpec("gm-1", "glucometer", Unit.MMOL_L)}
BASELINE = {"weight": 82.0, "spo2": 96.0, "pulse": 72.0, "glucose": 7.0}


def _patient(condition: str, scenario: str, *, start: float = -10.0,
             adherence: float = 1.0) -> PatientSpec:
    return PatientSpec(key="p1", conditions=(condition,), scenario=scenario,
                       devices=(DEVICES[condition],), baseline=BASELINE,
                       schedule=SCHEDULES[condition], scenario_start_days=start,
                       adherence=adherence)


def _series(spec: PatientSpec, seed: int, days: int = 20) -> list[Measurement]:
    model = PatientModel(spec, seed, ANCHOR)
    return list(measurements_between([model], ANCHOR - timedelta(days=days), ANCHOR))


def _daily(series: list[Measurement]) -> dict[date, float]:
    return {m.time.astimezone(LONDON).date(): m.value for m in series}


@pytest.mark.parametrize("seed", range(20))
def test_hf_decompensation_gains_at_least_2_kg_in_3_days(seed: int) -> None:
    spec = _patient("heart-failure", "hf-decompensation")
    weights = _daily(_series(spec, seed))
    start = (ANCHOR - timedelta(days=10)).astimezone(LONDON).date()
    gains = []
    for offset in range(3, 6):
        day = start + timedelta(days=offset)
        before = [weights[day - timedelta(days=k)] for k in (1, 2, 3)]
        gains.append(weights[day] - min(before))
    assert max(gains) >= 2.0, gains
    # ... and the gain is a sustained trend of 0.5–1 kg/day, not noise.
    trend = weights[start + timedelta(days=5)] - weights[start - timedelta(days=1)]
    assert 3.0 <= trend <= 6.8


@pytest.mark.parametrize("seed", range(10))
def test_stable_heart_failure_never_gains_2_kg_or_1_kg_overnight(seed: int) -> None:
    weights = list(_daily(_series(_patient("heart-failure", "stable"), seed, days=30)).values())
    for i in range(1, len(weights)):
        assert weights[i] - weights[i - 1] < 1.0
        assert weights[i] - min(weights[max(0, i - 3):i]) < 2.0


@pytest.mark.parametrize("seed", range(10))
def test_copd_exacerbation_drifts_spo2_3_to_5_below_baseline_with_pulse_up(seed: int) -> None:
    series = [m for m in _series(_patient("copd", "copd-exacerbation"), seed)
              if not m.low_quality]
    start = ANCHOR - timedelta(days=10)
    before = [m for m in series if m.time < start]
    during = [m for m in series if start + timedelta(days=2) <= m.time < start + timedelta(days=5)]
    spo2_fall = statistics.median(m.value for m in before) - statistics.median(
        m.value for m in during)
    assert 3.0 <= spo2_fall <= 6.0
    pulse_rise = (statistics.mean(m.pulse or 0 for m in during)
                  - statistics.mean(m.pulse or 0 for m in before))
    assert pulse_rise >= 8.0
    # Two consecutive readings at least 3 points below the baseline: the drop rule's signature.
    values = [m.value for m in during]
    assert any(a <= 93 and b <= 93 for a, b in itertools.pairwise(values))


@pytest.mark.parametrize("seed", range(10))
def test_stable_copd_stays_inside_its_band(seed: int) -> None:
    series = [m for m in _series(_patient("copd", "stable"), seed, days=30) if not m.low_quality]
    assert all(94 <= m.value <= 98 for m in series)
    assert all(55 <= (m.pulse or 0) <= 90 for m in series)


def test_hypo_episodes_go_below_4_and_stable_diabetes_does_not() -> None:
    hypo = _series(_patient("type1-diabetes", "hypo-episodes"), 1)
    start = ANCHOR - timedelta(days=10)
    assert not [m for m in hypo if m.time < start and m.value < 4.0]
    lows = [m for m in hypo if m.time >= start and m.value < 4.0]
    assert len({m.time.date() for m in lows}) >= 3
    assert min(m.time for m in lows) < start + timedelta(days=1)
    stable = _series(_patient("type1-diabetes", "stable"), 1, days=30)
    assert all(4.0 <= m.value <= 13.9 for m in stable)


def test_hyperglycaemia_climbs_above_15() -> None:
    series = _series(_patient("type1-diabetes", "hyperglycaemia"), 2)
    start = ANCHOR - timedelta(days=10)
    later = [m.value for m in series if m.time >= start + timedelta(days=2)]
    assert statistics.median(later) > 15.0
    assert sum(v > 13.9 for v in later) >= 3


def test_nonadherent_patient_stops_measuring() -> None:
    series = _series(_patient("heart-failure", "nonadherent"), 3)
    assert series and max(m.time for m in series) < ANCHOR - timedelta(days=10)


def test_device_offline_marks_a_window_and_faulty_device_some_faults() -> None:
    offline = _series(_patient("copd", "device-offline"), 4)
    marked = [m for m in offline if m.offline]
    assert 2 <= len(marked) <= 5
    assert all(m.time >= ANCHOR - timedelta(days=10) for m in marked)
    faulty = _series(_patient("type1-diabetes", "faulty-device", start=-20), 4)
    kinds = {m.fault for m in faulty} - {None}
    assert kinds == {"implausible", "wrong-unit", "malformed"}


def test_adherence_misses_readings_but_never_two_in_a_row() -> None:
    series = _series(_patient("copd", "stable", adherence=0.7), 5, days=30)
    assert 40 <= len(series) < 60
    gaps = [(b.time - a.time) for a, b in itertools.pairwise(series)]
    assert max(gaps) < timedelta(hours=30)


def test_series_are_reproducible_from_the_seed_and_differ_between_seeds() -> None:
    spec = _patient("copd", "copd-exacerbation")
    assert _series(spec, 11) == _series(spec, 11)
    assert _series(spec, 11) != _series(spec, 12)
    # Generating a day on its own gives the same readings as generating it in a range.
    model = PatientModel(spec, 11, ANCHOR)
    day = (ANCHOR - timedelta(days=3)).astimezone(LONDON).date()
    assert model.measurements(day) == PatientModel(spec, 11, ANCHOR).measurements(day)


def test_caseload_readings_come_in_time_order_for_every_patient() -> None:
    caseload = Caseload(seed=1, patients=(
        _patient("copd", "stable"),
        PatientSpec(key="p2", conditions=("heart-failure",), scenario="stable",
                    devices=(DeviceSpec("sc-2", "scale", Unit.LB),), baseline=BASELINE,
                    schedule=SCHEDULES["heart-failure"]),
    ))
    series = list(measurements_between(caseload_models(caseload, ANCHOR),
                                       ANCHOR - timedelta(days=7), ANCHOR))
    assert [m.time for m in series] == sorted(m.time for m in series)
    assert {m.device_id for m in series} == {"ox-1", "sc-2"}
    assert {m.metric for m in series} == {Metric.SPO2, Metric.WEIGHT}


def test_only_a_faulty_oximeter_flags_low_quality_readings() -> None:
    stable = _series(_patient("copd", "stable"), 6, days=30)
    assert not any(m.low_quality for m in stable)
    faulty = _series(_patient("copd", "faulty-device", start=-30), 6, days=30)
    assert any(m.low_quality for m in faulty)


def test_an_unwell_patient_measures_more_often() -> None:
    series = _series(_patient("copd", "copd-exacerbation"), 7)
    start = ANCHOR - timedelta(days=10)
    per_day_before = len([m for m in series if m.time < start]) / 10
    per_day_during = len([m for m in series if start + timedelta(days=2) <= m.time
                          < start + timedelta(days=5)]) / 3
    assert per_day_before <= 2 < 4 <= per_day_during
