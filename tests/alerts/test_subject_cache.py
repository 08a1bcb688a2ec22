"""The subject cache (alerts/subject_cache.py): a patient is reused between batches only while
their row, their team's row and the thresholds in force are unchanged."""

from __future__ import annotations

from datetime import timedelta

from alerts.subject_cache import SubjectCache
from alerts.thresholds import load_subjects, set_threshold
from tests.alerts.conftest import NOW, Clinic


def test_an_unchanged_patient_is_reused(clinic: Clinic) -> None:
    cache = SubjectCache()
    pid = clinic.patient(["copd"])
    first = cache.load(clinic.conn, [pid], NOW)[pid]
    assert cache.load(clinic.conn, [pid], NOW)[pid] is first
    assert (cache.read, cache.confirmed) == (1, 1)
    assert first == load_subjects(clinic.conn, [pid], NOW)[pid]


def test_a_threshold_set_or_ended_is_seen(clinic: Clinic) -> None:
    cache = SubjectCache()
    pid = clinic.patient(["copd"])
    cache.load(clinic.conn, [pid], NOW)
    set_threshold(clinic.conn, pid, "spo2-scale1-amber", {"at_or_below": 90}, "after COPD flare",
                  "Nurse A", ends_at=NOW + timedelta(days=3))
    during = cache.load(clinic.conn, [pid], NOW + timedelta(days=1))[pid]
    assert during.overrides["spo2-scale1-amber"] == {"at_or_below": 90}
    after = cache.load(clinic.conn, [pid], NOW + timedelta(days=4))[pid]
    assert "spo2-scale1-amber" not in after.overrides
    assert after == load_subjects(clinic.conn, [pid], NOW + timedelta(days=4))[pid]


def test_a_changed_care_plan_or_team_is_seen(clinic: Clinic) -> None:
    cache = SubjectCache()
    pid = clinic.patient(["heart-failure"])
    cache.load(clinic.conn, [pid], NOW)
    clinic.conn.execute("UPDATE patients SET care_plan = %s WHERE id = %s",
                        ('{"weight": {"per_day": 1, "window": "morning"}}', pid))
    assert cache.load(clinic.conn, [pid], NOW)[pid].care_plan["weight"]["window"] == "morning"
    clinic.conn.execute("UPDATE teams SET code = 'renamed' WHERE id = %s", (clinic.team_id,))
    assert cache.load(clinic.conn, [pid], NOW)[pid].team_code == "renamed"
    assert cache.read == 3
