"""Band rules (SpO2 scales 1 and 2, pulse, glucose in both units) at and around each boundary.

Each test checks its boundary cases on one database, one fresh patient per case.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from alerts.engine import evaluate
from alerts.thresholds import set_spo2_scale, set_threshold
from telehub.domain.units import Metric, Unit
from tests.alerts.conftest import NOW, Clinic

Case = tuple[float, str | None]


def _severity(clinic: Clinic, pid: int, episode: str) -> str | None:
    alert = clinic.alert(pid, episode)
    return None if alert is None else alert["severity"]


def _check(clinic: Clinic, metric: Metric, episode: str, cases: Sequence[Case],
           conditions: Sequence[str] = (), setup: Callable[[int], None] | None = None) -> None:
    wrong = []
    for value, expected in cases:
        pid = clinic.patient(conditions)
        if setup:
            setup(pid)
        clinic.feed(pid, metric, value, NOW)
        got = _severity(clinic, pid, episode)
        if got != expected:
            wrong.append(f"{metric.value} {value}: expected {expected}, got {got}")
    assert not wrong, wrong


def test_spo2_scale1_bands(clinic: Clinic) -> None:
    _check(clinic, Metric.SPO2, "spo2-low", [
        (91, "red"), (92, "amber"), (93, "amber"), (94, "info"), (95, "info"), (96, None),
        (100, None), (90.5, "red"), (69, "red")], ["copd"])


def test_spo2_scale2_bands(clinic: Clinic) -> None:
    def scale2(pid: int) -> None:
        set_spo2_scale(clinic.conn, pid, 2, "Hypercapnic respiratory failure", "Dr Lee")

    _check(clinic, Metric.SPO2, "spo2-low", [
        (83, "red"), (84, "amber"), (85, "amber"), (86, "info"), (87, "info"), (88, None),
        (89, None), (92, None), (97, None)], ["copd"], scale2)


def test_copd_patient_at_89_alerts_only_without_scale_2(clinic: Clinic) -> None:
    on_scale2 = clinic.patient(["copd"])
    set_spo2_scale(clinic.conn, on_scale2, 2, "Target 88-92 % agreed with respiratory team",
                   "Dr Lee")
    without = clinic.patient(["copd"])
    clinic.feed(on_scale2, Metric.SPO2, 89, NOW)
    clinic.feed(without, Metric.SPO2, 89, NOW)
    assert clinic.alerts(on_scale2) == []
    red = clinic.alert(without, "spo2-low")
    assert red is not None and red["severity"] == "red"
    assert "89 %" in red["message"] and "91 %" in red["message"]


def test_scale2_on_home_oxygen_scores_high_saturations(clinic: Clinic) -> None:
    def on_oxygen(pid: int) -> None:
        clinic.conn.execute("UPDATE patients SET on_home_oxygen = true WHERE id = %s", (pid,))
        set_spo2_scale(clinic.conn, pid, 2, "On long-term oxygen therapy", "Dr Lee")

    _check(clinic, Metric.SPO2, "spo2-high-on-oxygen", [
        (92, None), (93, "info"), (94, "info"), (95, "amber"), (96, "amber"), (97, "red")],
        ["copd"], on_oxygen)


def test_high_saturation_is_fine_on_room_air(clinic: Clinic) -> None:
    _check(clinic, Metric.SPO2, "spo2-high-on-oxygen", [(99, None)], ["copd"],
           lambda pid: set_spo2_scale(clinic.conn, pid, 2, "Target 88-92", "Dr Lee"))


def test_spo2_below_70_is_red_unverified(clinic: Clinic) -> None:
    pid = clinic.patient([])
    clinic.feed(pid, Metric.SPO2, 65, NOW, flags=["verify"])
    alert = clinic.alert(pid, "spo2-low")
    assert alert is not None and alert["severity"] == "red"
    assert "unverified" in alert["message"] and "retake" in alert["message"]


def test_pulse_single_reading(clinic: Clinic) -> None:
    _check(clinic, Metric.PULSE, "pulse", [
        (40, "red"), (41, None), (50, None), (51, None), (90, None), (91, None), (110, None),
        (111, "amber"), (130, "amber"), (131, "red"), (20, "red")])


def test_pulse_info_needs_two_consecutive(clinic: Clinic) -> None:
    wrong = []
    for first, second, expected in [(95, 100, "info"), (45, 50, "info"), (95, 90, None),
                                    (51, 50, None), (91, 91, "info"), (41, 110, "info")]:
        pid = clinic.patient([])
        clinic.series(pid, Metric.PULSE, [first, second], NOW, timedelta(hours=1))
        got = _severity(clinic, pid, "pulse")
        if got != expected:
            wrong.append((first, second, expected, got))
    assert not wrong


def _glucose(clinic: Clinic, episode: str,
             cases: Sequence[tuple[float, tuple[float, Unit] | None, str | None]]) -> None:
    wrong = []
    for value, raw, expected in cases:
        pid = clinic.patient(["type2-diabetes"])
        clinic.feed(pid, Metric.GLUCOSE, value, NOW, raw=raw)
        got = _severity(clinic, pid, episode)
        if got != expected:
            wrong.append((value, raw, expected, got))
    assert not wrong


def test_hypo_bands_in_both_units(clinic: Clinic) -> None:
    _glucose(clinic, "glucose-low", [
        (2.9, None, "red"),
        (3.0, None, "amber"),          # 3.0 mmol/L = 54.05 mg/dL: not below 54
        (3.9, None, "amber"),
        (4.0, None, None),
        (53 / 18.016, (53, Unit.MG_DL), "red"),
        (54 / 18.016, (54, Unit.MG_DL), "amber"),   # 54 mg/dL is not below 54
        (70 / 18.016, (70, Unit.MG_DL), "amber"),   # 3.885 mmol/L < 4.0
        (72 / 18.016, (72, Unit.MG_DL), "amber"),   # 3.996 mmol/L < 4.0
        (73 / 18.016, (73, Unit.MG_DL), None),      # 4.05 mmol/L
    ])


def test_hyper_bands_in_both_units(clinic: Clinic) -> None:
    _glucose(clinic, "glucose-high", [
        (15.0, None, None), (15.1, None, "amber"), (29.9, None, "amber"), (30.0, None, "red"),
        (271 / 18.016, (271, Unit.MG_DL), "amber"),   # 15.04 mmol/L
        (540 / 18.016, (540, Unit.MG_DL), "amber"),   # 29.97 mmol/L: not yet HHS
        (541 / 18.016, (541, Unit.MG_DL), "red"),     # 30.03 mmol/L
    ])


def test_meter_hi_is_red(clinic: Clinic) -> None:
    pid = clinic.patient(["type1-diabetes"])
    clinic.feed(pid, Metric.GLUCOSE, 33.3, NOW, flags=["hi"])
    alert = clinic.alert(pid, "glucose-high")
    assert alert is not None and alert["severity"] == "red"
    assert "HI" in alert["message"]


def test_glucose_rules_need_diabetes(clinic: Clinic) -> None:
    pid = clinic.patient(["heart-failure"])
    clinic.feed(pid, Metric.GLUCOSE, 2.5, NOW)
    assert clinic.alerts(pid) == []


def test_night_hypo_is_one_level_higher(clinic: Clinic) -> None:
    pid = clinic.patient(["diabetes"])
    night = datetime.fromisoformat("2026-11-26T03:10:00+00:00")
    clinic.feed(pid, Metric.GLUCOSE, 3.5, night)
    alert = clinic.alert(pid, "glucose-low")
    assert alert is not None and alert["severity"] == "red"
    assert "night" in alert["message"]
    day = clinic.patient(["diabetes"])
    clinic.feed(day, Metric.GLUCOSE, 3.5, night + timedelta(hours=3))   # 06:10
    assert _severity(clinic, day, "glucose-low") == "amber"


def test_individual_threshold_overrides_default(clinic: Clinic) -> None:
    pid = clinic.patient([])
    clinic.feed(pid, Metric.PULSE, 115, NOW)
    assert _severity(clinic, pid, "pulse") == "amber"
    other = clinic.patient([])
    set_threshold(clinic.conn, other, "pulse-amber", {"at_or_above": 120},
                  "Resting tachycardia is usual for this patient", "Matron Jones")
    clinic.feed(other, Metric.PULSE, 115, NOW)
    assert clinic.alerts(other) == []
    clinic.feed(other, Metric.PULSE, 120, NOW + timedelta(minutes=5))
    alert = clinic.alert(other, "pulse")
    assert alert is not None and alert["severity"] == "amber"
    assert alert["values"]["threshold"]["at_or_above"] == 120
    assert "at or above 120 /min" in alert["message"]


def _open(clinic: Clinic, pid: int, episode: str) -> str | None:
    """The alert's severity while its condition stands; "cleared" once marked back in range."""
    alert = clinic.alert(pid, episode)
    if alert is None:
        return None
    return "cleared" if alert["condition_cleared_at"] is not None else alert["severity"]


def test_readings_a_meter_sends_at_one_moment_are_each_judged_in_one_batch_or_two(
        clinic: Clinic) -> None:
    # A meter with a minute's resolution can send two readings with one time: each is judged,
    # and neither clears what the other raised (they are one newest reading).
    together = clinic.patient(["diabetes"])
    low, high = (clinic.store(together, Metric.GLUCOSE, v, NOW) for v in (2.5, 31.0))
    evaluate(clinic.conn, [low, high], now=NOW)
    apart = clinic.patient(["diabetes"])
    clinic.feed(apart, Metric.GLUCOSE, 31.0, NOW)
    clinic.feed(apart, Metric.GLUCOSE, 2.5, NOW, now=NOW + timedelta(minutes=1))
    for pid in (together, apart):
        assert (_open(clinic, pid, "glucose-low"), _open(clinic, pid, "glucose-high")) == (
            "red", "red")
    clinic.feed(apart, Metric.GLUCOSE, 6.0, NOW + timedelta(minutes=20))
    assert (_open(clinic, apart, "glucose-low"), _open(clinic, apart, "glucose-high")) == (
        "cleared", "cleared")
