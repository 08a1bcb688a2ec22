"""The worst value of an episode is kept, bands are judged on the value shown, and only
fresh threshold ambers make a combined red: measurement prompts and late readings never do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts.engine import evaluate
from telehub.domain.units import Metric
from tests.alerts.conftest import Clinic

DAY = timedelta(days=1)
MORNING = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def test_the_worst_spo2_is_kept_when_a_later_red_reading_is_milder(clinic: Clinic) -> None:
    pid = clinic.patient(["copd"])
    clinic.feed(pid, Metric.SPO2, 85, MORNING)
    clinic.feed(pid, Metric.SPO2, 90, MORNING + timedelta(minutes=30))
    alert = clinic.alert(pid, "spo2-low")
    assert alert is not None and alert["severity"] == "red"
    assert alert["values"]["worst"]["value"] == 85
    assert alert["values"]["latest"]["value"] == 90
    assert "SpO2 90 %" in alert["message"]                 # the newest breaching reading
    assert "Worst reading of this episode: 85 %" in alert["message"]


def test_the_worst_of_one_batch_is_its_most_extreme_reading(clinic: Clinic) -> None:
    pid = clinic.patient(["copd"])
    batch = [clinic.store(pid, Metric.SPO2, v, MORNING + k * timedelta(minutes=10))
             for k, v in enumerate([88, 84, 90])]
    evaluate(clinic.conn, batch, now=MORNING + timedelta(minutes=30))
    alert = clinic.alert(pid, "spo2-low")
    assert alert is not None
    assert alert["values"]["worst"]["value"] == 84
    assert "SpO2 90 %" in alert["message"] and "84 %" in alert["message"]


def test_a_milder_reading_at_the_worst_reading_names_no_second_reading(clinic: Clinic) -> None:
    pid = clinic.patient(["copd"])
    clinic.feed(pid, Metric.SPO2, 90, MORNING)
    clinic.feed(pid, Metric.SPO2, 86, MORNING + timedelta(minutes=30))
    alert = clinic.alert(pid, "spo2-low")
    assert alert is not None and alert["values"]["worst"]["value"] == 86
    assert "Worst reading" not in alert["message"]


def test_the_band_that_fires_is_the_band_of_the_value_shown(clinic: Clinic) -> None:
    shown_red, shown_amber = clinic.patient([]), clinic.patient([])
    clinic.feed(shown_red, Metric.SPO2, 91.4, MORNING)       # shown "91 %": NEWS2 score 3
    clinic.feed(shown_amber, Metric.SPO2, 91.6, MORNING)     # shown "92 %": score 2
    red, amber = clinic.alert(shown_red, "spo2-low"), clinic.alert(shown_amber, "spo2-low")
    assert red is not None and red["severity"] == "red" and "SpO2 91 %" in red["message"]
    assert amber is not None and amber["severity"] == "amber"
    assert "SpO2 92 %" in amber["message"]


def test_a_scale_error_and_an_amber_spo2_make_no_combined_red(clinic: Clinic) -> None:
    pid = clinic.patient(["heart-failure", "copd"])
    for k, v in enumerate([80.0, 80.2, 86.0]):                # 86 kg: a scale error
        clinic.feed(pid, Metric.WEIGHT, v, MORNING - (2 - k) * DAY)
    assert clinic.alert(pid, "weight-scale-error") is not None
    clinic.feed(pid, Metric.SPO2, 93, MORNING + timedelta(minutes=5))
    assert clinic.alert(pid, "spo2-low") is not None
    assert clinic.alert(pid, "combined-amber") is None


def test_late_ambers_never_make_a_combined_red(clinic: Clinic) -> None:
    pid = clinic.patient(["copd"])
    measured, now = MORNING, MORNING + timedelta(hours=10)
    batch = [clinic.store(pid, Metric.SPO2, 90, measured),
             clinic.store(pid, Metric.PULSE, 135, measured)]
    evaluate(clinic.conn, batch, now=now)
    low, pulse = clinic.alert(pid, "spo2-low"), clinic.alert(pid, "pulse")
    assert low is not None and low["severity"] == "amber" and low["late"]
    assert pulse is not None and pulse["severity"] == "amber" and pulse["late"]
    assert clinic.alert(pid, "combined-amber") is None


def test_fresh_ambers_on_two_metrics_still_make_a_combined_red(clinic: Clinic) -> None:
    pid = clinic.patient(["copd"])
    clinic.feed(pid, Metric.SPO2, 93, MORNING)
    clinic.feed(pid, Metric.PULSE, 115, MORNING + timedelta(minutes=1))
    combined = clinic.alert(pid, "combined-amber")
    assert combined is not None and combined["severity"] == "red"
