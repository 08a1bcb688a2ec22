"""Individual thresholds: validation, history, who/when/why, effect on the next reading."""

from __future__ import annotations

import pytest

from alerts.catalogue import load_catalogue, parse_catalogue
from alerts.thresholds import set_spo2_scale, set_threshold, thresholds_for_patient
from telehub.domain.units import Metric, Unit
from telehub.errors import ConfigError, NotFoundError, ValidationError
from tests.alerts.conftest import NOW, Clinic


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


def _hypo_severity(clinic: Clinic, below: object, value: float,
                   raw: tuple[float, Unit] | None = None) -> str | None:
    """The glucose-low severity a reading raises for a patient with an individual hypo limit."""
    pid = clinic.patient(["type1-diabetes"])
    set_threshold(clinic.conn, pid, "glucose-hypo-severe", {"below": below},
                  "Hypo unaware: act earlier", "Dr Lee")
    clinic.feed(pid, Metric.GLUCOSE, value, NOW, raw=raw)
    alert = clinic.alert(pid, "glucose-low")
    return None if alert is None else alert["severity"]


def test_a_glucose_limit_entered_in_mmol_is_compared_in_the_rules_mg_dl(clinic: Clinic) -> None:
    # The rule compares in mg/dL; 3.5 mmol/L is stored as 63.056 mg/dL, so 2.7 mmol/L is red
    # (a unit-less 3.5 read as mg/dL made it amber) and so is 3.2, red only by the override.
    assert _hypo_severity(clinic, "3.5 mmol/L", 2.7) == "red"
    assert _hypo_severity(clinic, "3.5 mmol/L", 3.2) == "red"
    assert _hypo_severity(clinic, "3.5 mmol/L", 3.5) == "amber"    # not below 3.5
    assert _hypo_severity(clinic, {"value": 3.5, "unit": "mmol/L"}, 3.4) == "red"
    assert _hypo_severity(clinic, "63mg/dL", 62 / 18.016, raw=(62, Unit.MG_DL)) == "red"
    assert _hypo_severity(clinic, "63mg/dL", 63 / 18.016, raw=(63, Unit.MG_DL)) == "amber"
    stored = [r["params"]["below"] for r in clinic.conn.execute(
        "SELECT params FROM thresholds WHERE rule_id = 'glucose-hypo-severe' ORDER BY id")]
    assert stored[0] == pytest.approx(63.056) and stored[-1] == 63


def test_thresholds_are_shown_with_their_unit_glucose_in_mmol_first(clinic: Clinic) -> None:
    pid = clinic.patient(["diabetes"])
    set_threshold(clinic.conn, pid, "glucose-hypo-severe", {"below": "3.5 mmol/L"},
                  "Hypo unaware: act earlier", "Dr Lee")
    rows = {r["id"]: r for r in thresholds_for_patient(clinic.conn, pid)}
    severe = rows["glucose-hypo-severe"]
    assert severe["units"] == {"below": "mg/dL"}
    assert severe["shown"] == {"default": "below 3.0 mmol/L (54 mg/dL)",
                               "individual": "below 3.5 mmol/L (63 mg/dL)",
                               "effective": "below 3.5 mmol/L (63 mg/dL)"}
    assert severe["entry"] == {"below": {"value": 3.5, "unit": "mmol/L"}}
    assert rows["glucose-hypo"]["shown"]["effective"] == "below 4.0 mmol/L"
    assert rows["glucose-hypo-repeated"]["shown"]["default"] == (
        "below 4.0 mmol/L, count 2, hours 168, distinct days yes")
    assert rows["glucose-high-persistent"]["units"]["count"] is None
    assert rows["spo2-scale1-red"]["shown"]["default"] == "at or below 91 %"


GLUCOSE_WITHOUT_UNIT: list[tuple[str, dict[str, object]]] = [
    ("glucose-hypo-severe", {"below": "3.5"}),
    ("glucose-hypo-severe", {"below": 3.5}),
    ("glucose-hypo-severe", {"below": {"value": 3.5, "unit": None}}),
    ("glucose-hypo", {"below": "3.8"}),
    ("glucose-hyper-red", {"at_or_above": 28}),
    ("glucose-high-persistent", {"above": "250"}),
]


def test_a_glucose_limit_without_its_unit_is_refused_and_nothing_stored(clinic: Clinic) -> None:
    pid = clinic.patient(["diabetes"])
    for rule, params in GLUCOSE_WITHOUT_UNIT:
        with pytest.raises(ValidationError) as err:
            set_threshold(clinic.conn, pid, rule, params, "Hypo unaware", "Dr Lee")
        assert err.value.code == "missing-unit", (rule, params)
        assert "needs its unit" in err.value.message and "mmol/L, mg/dL" in err.value.message
    assert clinic.conn.execute("SELECT count(*) AS n FROM thresholds").fetchone() == {"n": 0}


IMPLAUSIBLE_FOR_THE_UNIT: list[tuple[str, dict[str, object], str]] = [
    ("glucose-hypo-severe", {"below": "35 mmol/L"}, "implausible-threshold"),
    ("glucose-hypo-severe", {"below": "3.5 mg/dL"}, "implausible-threshold"),
    ("glucose-hypo-severe", {"below": "54 mmol/L"}, "implausible-threshold"),
    ("glucose-hypo-severe", {"below": "1.5 mmol/L"}, "implausible-threshold"),
    ("glucose-hypo", {"below": "10 mmol/L"}, "implausible-threshold"),
    ("glucose-hyper", {"above": "15 mg/dL"}, "implausible-threshold"),
    ("glucose-hyper-red", {"at_or_above": "35 mmol/L"}, "implausible-threshold"),
    ("glucose-high-persistent", {"above": "700 mg/dL"}, "implausible-threshold"),
    ("glucose-hypo-severe", {"below": "3.5 %"}, "wrong-unit"),
    ("glucose-hypo-severe", {"below": "3.5 mmol"}, "wrong-unit"),
    ("glucose-hypo-repeated", {"count": "2 mmol/L"}, "unit-not-allowed"),
    ("spo2-scale1-red", {"at_or_below": "40 %"}, "implausible-threshold"),
    ("pulse-amber", {"at_or_above": "120 mmol/L"}, "wrong-unit"),
]


def test_a_limit_implausible_for_its_unit_is_refused(clinic: Clinic) -> None:
    pid = clinic.patient(["diabetes"])
    for rule, params, code in IMPLAUSIBLE_FOR_THE_UNIT:
        with pytest.raises(ValidationError) as err:
            set_threshold(clinic.conn, pid, rule, params, "Hypo unaware", "Dr Lee")
        assert err.value.code == code, (rule, params, err.value.message)
    with pytest.raises(ValidationError) as err:
        set_threshold(clinic.conn, pid, "glucose-hypo-severe", {"below": "35 mmol/L"},
                      "Hypo unaware", "Dr Lee")
    assert "2.0–8.0 mmol/L, 36–144 mg/dL" in err.value.message
    assert clinic.conn.execute("SELECT count(*) AS n FROM thresholds").fetchone() == {"n": 0}


def test_other_metrics_take_their_unit_or_none(clinic: Clinic) -> None:
    pid = clinic.patient(["heart-failure", "diabetes"])
    set_threshold(clinic.conn, pid, "pulse-amber", {"at_or_above": "120 bpm"}, "Known AF",
                  "Dr Lee")
    set_threshold(clinic.conn, pid, "spo2-scale1-red", {"at_or_below": 89}, "COPD", "Dr Lee")
    set_threshold(clinic.conn, pid, "weight-above-dry", {"dry_weight_kg": "11 st"},
                  "Dry weight after admission", "Dr Lee")
    set_threshold(clinic.conn, pid, "glucose-hypo-repeated", {"count": "3", "hours": 72},
                  "Fewer prompts", "Dr Lee")
    rows = {r["id"]: r for r in thresholds_for_patient(clinic.conn, pid)}
    assert rows["pulse-amber"]["effective"] == {"at_or_above": 120.0}
    assert rows["spo2-scale1-red"]["effective"] == {"at_or_below": 89.0}
    assert rows["weight-above-dry"]["effective"]["dry_weight_kg"] == pytest.approx(69.853, abs=1e-3)
    assert rows["glucose-hypo-repeated"]["effective"]["count"] == 3.0


def test_the_spo2_scale_is_taken_as_a_form_sends_it(clinic: Clinic) -> None:
    pid = clinic.patient(["copd"])
    set_threshold(clinic.conn, pid, "spo2-scale", {"scale": {"value": "2", "unit": None}},
                  "Hypercapnic respiratory failure", "Dr Lee")
    rows = {r["id"]: r for r in thresholds_for_patient(clinic.conn, pid)}
    assert rows["spo2-scale"]["effective"] == {"scale": 2}
    assert rows["spo2-scale"]["shown"]["effective"] == "scale 2"
