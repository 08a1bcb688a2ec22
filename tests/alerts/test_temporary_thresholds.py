"""Temporary individual thresholds: in force until their end on the service clock, then the
permanent override (or the catalogue default) again by itself, with who/why/when kept."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from alerts.thresholds import (
    set_threshold,
    temporary_end,
    threshold_history,
    thresholds_for_patient,
)
from telehub.domain.clock import FixedClock, service_zone, use_clock
from telehub.domain.units import Metric
from telehub.errors import ValidationError
from tests.alerts.conftest import Clinic
from tests.clock_anchors import ANCHORS, anchor_id

MIN = timedelta(minutes=1)
DAY = timedelta(days=1)
ZONE = service_zone()


@pytest.mark.parametrize("at", ANCHORS, ids=anchor_id)
def test_a_temporary_threshold_reverts_at_its_end(clinic: Clinic, at: datetime) -> None:
    pid = clinic.patient(["copd"])
    end = at.astimezone(UTC) + 14 * DAY
    with use_clock(FixedClock(at)):
        set_threshold(clinic.conn, pid, "spo2-scale1-red", {"at_or_below": 90},
                      "Runs at 91-92 % when well", "Dr Lee")
        set_threshold(clinic.conn, pid, "spo2-scale1-red", {"at_or_below": 88},
                      "After this exacerbation, for 14 days", "Matron Jones", ends_at=end)
        [red] = [t for t in thresholds_for_patient(clinic.conn, pid)
                 if t["id"] == "spo2-scale1-red"]
    assert red["effective"] == {"at_or_below": 88} and red["ends_at"] == end
    assert red["permanent"] == {"at_or_below": 90} and red["set_by_name"] == "Matron Jones"
    # A minute before the end, 89 % is amber under the temporary threshold.
    clinic.feed(pid, Metric.SPO2, 89, end - MIN)
    alert = clinic.alert(pid, "spo2-low")
    assert alert is not None and alert["severity"] == "amber"
    assert alert["values"]["threshold"]["at_or_below"] == 93
    # From its end, nobody acting, the permanent threshold applies: 90 % is red again...
    clinic.feed(pid, Metric.SPO2, 90, end)
    alert = clinic.alert(pid, "spo2-low")
    assert alert is not None and alert["severity"] == "red"
    assert alert["values"]["threshold"] == {"at_or_below": 90, "unit": "%"}
    # ...and the history keeps both, who, why and when, the temporary one ended.
    with use_clock(FixedClock(end)):
        history = threshold_history(clinic.conn, pid)
        [red] = [t for t in thresholds_for_patient(clinic.conn, pid)
                 if t["id"] == "spo2-scale1-red"]
    assert [(h["set_by_name"], h["reason"], h["ends_at"], h["state"]) for h in history] == [
        ("Matron Jones", "After this exacerbation, for 14 days", end, "ended"),
        ("Dr Lee", "Runs at 91-92 % when well", None, "in-force")]
    assert history[0]["set_at"] == at
    assert red["effective"] == {"at_or_below": 90} and red["ends_at"] is None


def test_without_a_permanent_override_it_reverts_to_the_default(clinic: Clinic) -> None:
    at = ANCHORS[1]
    pid = clinic.patient(["copd"])
    end = at + 2 * DAY
    with use_clock(FixedClock(at)):
        set_threshold(clinic.conn, pid, "spo2-scale1-amber", {"at_or_below": 92},
                      "Baseline 93 % this fortnight", "Matron Jones", ends_at=end)
    clinic.feed(pid, Metric.SPO2, 93, end - MIN)
    alert = clinic.alert(pid, "spo2-low")
    assert alert is not None and alert["severity"] == "info"
    clinic.feed(pid, Metric.SPO2, 93, end + MIN)
    alert = clinic.alert(pid, "spo2-low")
    assert alert is not None and alert["severity"] == "amber"


def test_a_permanent_change_ends_the_temporary_one_and_a_new_temporary_replaces_it(
        clinic: Clinic) -> None:
    at = ANCHORS[2]
    pid = clinic.patient(["copd"])
    with use_clock(FixedClock(at)):
        set_threshold(clinic.conn, pid, "spo2-scale1-red", {"at_or_below": 88}, "For now",
                      "Matron Jones", ends_at=at + 7 * DAY)
        set_threshold(clinic.conn, pid, "spo2-scale1-red", {"at_or_below": 87}, "Lower still",
                      "Matron Jones", ends_at=at + 3 * DAY)
        [red] = [t for t in thresholds_for_patient(clinic.conn, pid)
                 if t["id"] == "spo2-scale1-red"]
        assert red["effective"] == {"at_or_below": 87} and red["ends_at"] == at + 3 * DAY
        set_threshold(clinic.conn, pid, "spo2-scale1-red", {"at_or_below": 89},
                      "Reviewed: permanent", "Dr Lee")
        [red] = [t for t in thresholds_for_patient(clinic.conn, pid)
                 if t["id"] == "spo2-scale1-red"]
        history = threshold_history(clinic.conn, pid)
    assert red["effective"] == {"at_or_below": 89} and red["ends_at"] is None
    assert [h["state"] for h in history] == ["in-force", "superseded", "superseded"]


def test_a_day_runs_through_that_local_day_even_on_a_clock_change() -> None:
    now = ANCHORS[4]                                   # 29 March 2026, BST from 01:00
    assert temporary_end(date(2026, 3, 29), now, ZONE) == datetime(2026, 3, 29, 23, 0,
                                                                   tzinfo=UTC)
    autumn = ANCHORS[5]                                # 25 October 2026, 25 hours long
    assert temporary_end(date(2026, 10, 25), autumn, ZONE) == datetime(2026, 10, 26, 0, 0,
                                                                       tzinfo=UTC)
    for bad in (date(2026, 3, 28), now + timedelta(days=91)):
        with pytest.raises(ValidationError) as err:
            temporary_end(bad, now, ZONE)
        assert err.value.code == "bad-until"
    with pytest.raises(ValidationError):
        temporary_end(datetime(2026, 4, 1, 9, 0), now, ZONE)   # a time without its zone
