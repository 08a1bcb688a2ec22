"""Individual thresholds: validation, history, who/when/why, effect on the next reading."""

from __future__ import annotations

import pytest

from alerts.catalogue import load_catalogue, parse_catalogue
from alerts.thresholds import set_spo2_scale, set_threshold, thresholds_for_patient
from telehub.errors import ConfigError, NotFoundError, ValidationError
from tests.alerts.conftest import Clinic


def test_every_rule_sentence_and_source_is_filled() -> None:
    catalogue = load_catalogue()
    assert len(catalogue.rules) >= 30
    for rule in catalogue.rules:
        assert rule.sentence and rule.source and rule.episode in catalogue.episodes
    ids = {r.id for r in catalogue.rules}
    for expected in ("spo2-scale1-red", "spo2-scale2-info", "spo2-baseline-drop", "pulse-info",
                     "weight-gain-3d", "weight-gain-7d", "weight-above-dry", "weight-loss-3d",
                     "glucose-hypo-severe", "glucose-hypo-repeated", "glucose-high-persistent",
                     "glucose-hyper-red", "missing-readings", "missing-readings-info",
                     "combined-amber"):
        assert expected in ids


def test_malformed_catalogue_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        parse_catalogue("[[rule]]\nid = 'x'\nkind = 'nonsense'\n")
    with pytest.raises(ConfigError):
        parse_catalogue("this is = = not toml")


def test_show_lists_defaults_overrides_and_who(clinic: Clinic) -> None:
    pid = clinic.patient(["copd"])
    set_threshold(clinic.conn, pid, "pulse-amber", {"at_or_above": "120"},
                  "Known resting tachycardia", "Dr Lee")
    rows = {r["id"]: r for r in thresholds_for_patient(clinic.conn, pid)}
    pulse = rows["pulse-amber"]
    assert pulse["default"] == {"at_or_above": 111}
    assert pulse["individual"] == {"at_or_above": 120.0}
    assert pulse["effective"] == {"at_or_above": 120.0}
    assert pulse["set_by_name"] == "Dr Lee" and pulse["reason"] == "Known resting tachycardia"
    assert rows["spo2-scale"]["effective"] == {"scale": 1}
    assert not rows["weight-gain-3d"]["applies"]           # COPD only: no heart failure


def test_a_new_override_supersedes_and_keeps_history(clinic: Clinic) -> None:
    pid = clinic.patient([])
    set_spo2_scale(clinic.conn, pid, 2, "Hypercapnic respiratory failure", "Dr Lee")
    set_spo2_scale(clinic.conn, pid, 1, "No longer retaining CO2", "Dr Lee")
    rows = clinic.conn.execute("SELECT params, superseded_at FROM thresholds "
                               "WHERE patient_id = %s ORDER BY id", (pid,)).fetchall()
    assert [r["params"] for r in rows] == [{"scale": 2}, {"scale": 1}]
    assert rows[0]["superseded_at"] is not None and rows[1]["superseded_at"] is None


BAD_OVERRIDES: list[tuple[str, dict[str, object], str]] = [
    ("no-such-rule", {"x": 1}, "unknown-rule"),
    ("pulse-amber", {"at_or_bellow": 1}, "unknown-param"),
    ("pulse-amber", {"at_or_above": "fast"}, "bad-threshold"),
    ("pulse-amber", {"at_or_above": -3}, "bad-threshold"),
    ("pulse-amber", {"at_or_above": "nan"}, "bad-threshold"),
    ("pulse-amber", {}, "bad-threshold"),
    ("glucose-hypo-repeated", {"distinct_days": "maybe"}, "bad-threshold"),
]


def test_bad_overrides_are_refused(clinic: Clinic) -> None:
    pid = clinic.patient([])
    for rule, params, code in BAD_OVERRIDES:
        with pytest.raises(ValidationError) as err:
            set_threshold(clinic.conn, pid, rule, params, "Because", "Dr Lee")
        assert err.value.code == code, (rule, params)
    assert clinic.conn.execute("SELECT count(*) AS n FROM thresholds").fetchone() == {"n": 0}


def test_scale_reason_and_patient_are_checked(clinic: Clinic) -> None:
    pid = clinic.patient([])
    with pytest.raises(ValidationError):
        set_spo2_scale(clinic.conn, pid, 3, "Target 88-92", "Dr Lee")
    with pytest.raises(ValidationError):
        set_spo2_scale(clinic.conn, pid, 2, " ", "Dr Lee")
    with pytest.raises(NotFoundError):
        set_spo2_scale(clinic.conn, 987654, 2, "Target 88-92", "Dr Lee")
