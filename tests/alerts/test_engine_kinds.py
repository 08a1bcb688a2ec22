"""Weight, baseline, count and quality rules; late readings; one alert per episode; noise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from alerts.engine import evaluate
from alerts.lifecycle import Actor, resolve
from alerts.thresholds import set_threshold
from telehub.domain.units import Metric, Unit
from tests.alerts.conftest import NOW, Clinic

DAY = timedelta(days=1)
# 08:00 UTC is 08:00 in London in November: a morning weight.
MORNING = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def _weights(clinic: Clinic, pid: int, values: list[float]) -> None:
    """One morning weight per day, the last one today."""
    start = MORNING - (len(values) - 1) * DAY
    for k, v in enumerate(values[:-1]):
        clinic.feed(pid, Metric.WEIGHT, v, start + k * DAY)
    clinic.feed(pid, Metric.WEIGHT, values[-1], MORNING)


def _rule(clinic: Clinic, pid: int, episode: str) -> str | None:
    alert = clinic.alert(pid, episode)
    return None if alert is None else str(alert["values"]["rule"])


WEIGHT_CASES = [
    ([80.0, 80.5, 80.5, 82.0], "weight-gain-3d"),        # 2.0 kg over the lowest of 3 days
    ([80.0, 80.5, 81.0, 81.9], None),                    # 1.9 kg, never 1 kg overnight
    ([80.0, 80.4, 80.8, 81.2, 81.5, 81.8, 82.0, 82.3], "weight-gain-7d"),   # 2.3 kg in 7 days
    ([80.0, 80.4, 80.8, 81.2, 81.5, 81.8, 82.0, 82.2], None),               # 2.2 kg
    ([80.0, 80.4, 80.8, 81.2, 81.5, 81.8, 82.0, 82.27], "weight-gain-7d"),  # 5 lb must alert
    ([80.0, 80.5, 81.5, 82.5], "weight-gain-3d"),
    ([80.0, 80.3, 81.3], "weight-rise-1d"),              # one night: re-weigh (info)
]


def test_weight_gain_rules(clinic: Clinic) -> None:
    wrong = []
    for values, expected in WEIGHT_CASES:
        pid = clinic.patient(["heart-failure"])
        _weights(clinic, pid, values)
        got = _rule(clinic, pid, "weight-gain")
        if got != expected:
            wrong.append((values, expected, got))
    assert not wrong


def test_weight_gain_2d_when_3d_is_raised_for_the_patient(clinic: Clinic) -> None:
    pid = clinic.patient(["heart-failure"])
    set_threshold(clinic.conn, pid, "weight-gain-3d", {"gain_kg": 3.0},
                  "Labile weight, agreed with the heart-failure nurse", "Dr Lee")
    _weights(clinic, pid, [79.0, 80.0, 80.5, 82.5])       # 3.5 kg in 3 days, 2.0 in 2
    assert _rule(clinic, pid, "weight-gain") == "weight-gain-3d"
    other = clinic.patient(["heart-failure"])
    set_threshold(clinic.conn, other, "weight-gain-3d", {"gain_kg": 3.0},
                  "Labile weight, agreed with the heart-failure nurse", "Dr Lee")
    _weights(clinic, other, [80.5, 80.0, 80.6, 82.0])    # 2.0 over 2 days, 1.4 overnight
    assert _rule(clinic, other, "weight-gain") == "weight-gain-2d"


def test_weight_gain_overnight_two_days(clinic: Clinic) -> None:
    pid = clinic.patient(["heart-failure"])
    _weights(clinic, pid, [80.0, 80.0, 81.0, 82.0])
    alert = clinic.alert(pid, "weight-gain")
    events = clinic.conn.execute("SELECT kind FROM alert_events WHERE alert_id = %s ORDER BY id",
                                 (alert["id"] if alert else 0,)).fetchall()
    assert [e["kind"] for e in events] == ["opened", "severity-raised"]   # info, then amber
    assert alert is not None and alert["severity"] == "amber"
    # 3d and 2d fire too (2.0 kg); the episode is one alert at the highest severity.
    assert alert["values"]["rule"] in {"weight-gain-3d", "weight-gain-2d", "weight-gain-overnight"}
    assert len(clinic.alerts(pid)) == 1


def test_weight_rules_need_heart_failure(clinic: Clinic) -> None:
    pid = clinic.patient(["copd"])
    _weights(clinic, pid, [80.0, 80.5, 80.5, 83.0])
    assert clinic.alerts(pid) == []


def test_afternoon_weight_after_a_morning_weight_is_not_compared(clinic: Clinic) -> None:
    pid = clinic.patient(["heart-failure"])              # default plan: weight, morning
    clinic.feed(pid, Metric.WEIGHT, 80.0, MORNING - 2 * DAY)
    clinic.feed(pid, Metric.WEIGHT, 80.2, MORNING)
    clinic.feed(pid, Metric.WEIGHT, 82.5, MORNING + timedelta(hours=7))   # 15:00 after lunch
    assert clinic.alerts(pid) == []
    clinic.feed(pid, Metric.WEIGHT, 82.5, MORNING + DAY)
    assert _rule(clinic, pid, "weight-gain") == "weight-gain-3d"


def test_a_day_without_a_morning_weight_still_has_a_daily_weight_marked(clinic: Clinic) -> None:
    pid = clinic.patient(["heart-failure"])
    clinic.feed(pid, Metric.WEIGHT, 80.0, MORNING - 2 * DAY)
    clinic.feed(pid, Metric.WEIGHT, 82.1, MORNING + timedelta(hours=10))  # 18:00, no morning one
    alert = clinic.alert(pid, "weight-gain")
    assert alert is not None and alert["values"]["rule"] == "weight-gain-3d"
    assert "Not a morning weight" in alert["message"]


def test_evening_weigher_gets_gain_alerts_and_a_weigh_in_the_morning_prompt(
        clinic: Clinic) -> None:
    pid = clinic.patient(["heart-failure"])
    evening = MORNING + timedelta(hours=11)               # 19:00 London
    for k, v in enumerate([80.0, 80.6, 81.2, 82.1]):
        clinic.feed(pid, Metric.WEIGHT, v, evening - (3 - k) * DAY)
    assert _rule(clinic, pid, "weight-gain") == "weight-gain-3d"
    prompt = clinic.alert(pid, "weight-schedule")
    assert prompt is not None and prompt["severity"] == "info"
    assert "morning" in prompt["message"]


def test_two_off_schedule_days_do_not_prompt(clinic: Clinic) -> None:
    pid = clinic.patient(["heart-failure"])
    clinic.feed(pid, Metric.WEIGHT, 80.0, MORNING - 2 * DAY)
    clinic.feed(pid, Metric.WEIGHT, 80.1, MORNING - DAY + timedelta(hours=9))
    clinic.feed(pid, Metric.WEIGHT, 80.0, MORNING + timedelta(hours=9))
    assert clinic.alert(pid, "weight-schedule") is None


def test_scale_error_is_flagged_and_left_out(clinic: Clinic) -> None:
    pid = clinic.patient(["heart-failure"])
    clinic.feed(pid, Metric.WEIGHT, 80.0, MORNING - 2 * DAY)
    clinic.feed(pid, Metric.WEIGHT, 80.2, MORNING - DAY)
    clinic.feed(pid, Metric.WEIGHT, 86.0, MORNING)
    assert _rule(clinic, pid, "weight-scale-error") == "weight-scale-error"
    assert clinic.alert(pid, "weight-gain") is None
    clinic.feed(pid, Metric.WEIGHT, 80.4, MORNING + DAY)
    assert clinic.alert(pid, "weight-gain") is None


def test_weight_above_dry_weight_two_days(clinic: Clinic) -> None:
    wrong = []
    for values, fires in [([80.0, 80.0], True), ([80.0, 79.9], False), ([79.9, 80.0], False)]:
        pid = clinic.patient(["heart-failure"])
        set_threshold(clinic.conn, pid, "weight-above-dry", {"dry_weight_kg": 78},
                      "Dry weight after discharge from cardiology", "Dr Lee")
        clinic.feed(pid, Metric.WEIGHT, values[0], MORNING - DAY)
        clinic.feed(pid, Metric.WEIGHT, values[1], MORNING)
        if (_rule(clinic, pid, "weight-gain") == "weight-above-dry") is not fires:
            wrong.append(values)
    assert not wrong


def test_weight_loss_is_info(clinic: Clinic) -> None:
    pid = clinic.patient(["heart-failure"])
    _weights(clinic, pid, [82.0, 81.5, 80.8, 80.0])
    alert = clinic.alert(pid, "weight-loss")
    assert alert is not None and alert["severity"] == "info"
    assert clinic.outbox() == []           # info is shown on the dashboard only


def _baseline(clinic: Clinic, pid: int, usual: float = 96) -> None:
    for k in range(6):
        clinic.feed(pid, Metric.SPO2, usual, NOW - timedelta(days=6) + k * DAY / 2)


def test_spo2_drop_from_personal_baseline(clinic: Clinic) -> None:
    wrong = []
    for latest, fires in [([93, 93], True), ([93, 94], False), ([93], False),
                          ([92.5, 93], True)]:
        pid = clinic.patient(["copd"])
        _baseline(clinic, pid)
        for k, v in enumerate(latest):
            clinic.feed(pid, Metric.SPO2, v, NOW - timedelta(hours=2) + k * timedelta(hours=1))
        alert = clinic.alert(pid, "spo2-baseline-drop")
        if (alert is not None) is not fires:
            wrong.append(latest)
        if alert:
            assert "96 %" in alert["message"] and "3 points" in alert["message"]
    assert not wrong


def test_baseline_needs_five_readings(clinic: Clinic) -> None:
    pid = clinic.patient(["copd"])
    for k in range(4):
        clinic.feed(pid, Metric.SPO2, 97, NOW - timedelta(days=5) + k * DAY)
    clinic.series(pid, Metric.SPO2, [93, 93], NOW - timedelta(hours=2), timedelta(hours=1))
    assert clinic.alert(pid, "spo2-baseline-drop") is None


def test_repeated_hypos_on_different_days(clinic: Clinic) -> None:
    wrong = []
    for first, gap, fires in [(3.8, timedelta(days=3), True), (3.8, timedelta(hours=2), False),
                              (3.8, timedelta(days=8), False), (4.0, timedelta(days=2), False)]:
        pid = clinic.patient(["type1-diabetes"])
        clinic.feed(pid, Metric.GLUCOSE, first, NOW - gap)
        clinic.feed(pid, Metric.GLUCOSE, 3.9, NOW)
        if (clinic.alert(pid, "glucose-hypo-repeated") is not None) is not fires:
            wrong.append((first, gap))
    assert not wrong


def test_persistent_high_glucose(clinic: Clinic) -> None:
    wrong = []
    for value, raw, fires in [(14.0, None, True), (13.8, None, False),
                              (251 / 18.016, (251, Unit.MG_DL), True),
                              (250 / 18.016, (250, Unit.MG_DL), False)]:
        pid = clinic.patient(["diabetes"])
        for k in range(3):
            clinic.feed(pid, Metric.GLUCOSE, value,
                        NOW - timedelta(hours=40) + k * timedelta(hours=20), raw=raw)
        if (clinic.alert(pid, "glucose-high-persistent") is not None) is not fires:
            wrong.append((value, raw))
    assert not wrong


def test_low_quality_reading_asks_for_repeat_not_red(clinic: Clinic) -> None:
    pid = clinic.patient(["copd"])
    clinic.feed(pid, Metric.SPO2, 85, NOW, flags=["low-quality"])
    assert clinic.alert(pid, "spo2-low") is None
    repeat = clinic.alert(pid, "repeat-reading")
    assert repeat is not None and repeat["severity"] == "amber"
    assert "would have raised red (low oxygen saturation" in repeat["message"]
    clinic.feed(pid, Metric.SPO2, 97, NOW + timedelta(minutes=1), flags=["low-quality"])
    assert clinic.alert(pid, "check-device-use") is None
    clinic.feed(pid, Metric.SPO2, 97, NOW + timedelta(minutes=2), flags=["low-quality"])
    device = clinic.alert(pid, "check-device-use")
    assert device is not None and device["severity"] == "info"


def test_late_reading_is_a_review_not_an_emergency(clinic: Clinic) -> None:
    late, fresh = clinic.patient([]), clinic.patient([])
    clinic.feed(late, Metric.SPO2, 88, NOW - timedelta(hours=8), now=NOW)
    clinic.feed(fresh, Metric.SPO2, 88, NOW - timedelta(hours=5), now=NOW)
    alert = clinic.alert(late, "spo2-low")
    assert alert is not None and alert["severity"] == "amber" and alert["late"]
    assert alert["message"].startswith("Late reading")
    assert alert["first_breach_at"] == NOW - timedelta(hours=8)
    other = clinic.alert(fresh, "spo2-low")
    assert other is not None and other["severity"] == "red" and not other["late"]


def test_repeat_breach_updates_the_one_active_alert(clinic: Clinic) -> None:
    pid = clinic.patient([])
    clinic.series(pid, Metric.SPO2, [90, 89, 90], NOW, timedelta(minutes=30))
    [alert] = clinic.alerts(pid)
    assert alert["occurrences"] == 3 and alert["severity"] == "red"
    assert alert["last_breach_at"] == NOW + timedelta(minutes=60)
    assert alert["values"]["worst"]["value"] == 90 or alert["values"]["worst"]["value"] == 89
    assert len(clinic.outbox()) == 1
    kinds = [r["kind"] for r in clinic.conn.execute(
        "SELECT kind FROM alert_events WHERE alert_id = %s ORDER BY id", (alert["id"],))]
    assert kinds == ["opened", "repeated", "repeated"]


def test_worse_reading_raises_severity_and_notifies_again(clinic: Clinic) -> None:
    pid = clinic.patient([])
    clinic.feed(pid, Metric.SPO2, 93, NOW)
    clinic.feed(pid, Metric.SPO2, 90, NOW + timedelta(minutes=10))
    [alert] = clinic.alerts(pid)
    assert alert["severity"] == "red" and alert["occurrences"] == 2
    outbox = clinic.outbox()
    assert [(o["team"], o["severity"]) for o in outbox] == [("north", "amber"),
                                                            ("north", "red")]
    payload = outbox[1]["payload"]
    assert payload["alert_id"] == alert["id"] and payload["event"] == "severity-raised"
    assert payload["patient"].startswith("TH-") and payload["rule"] == "spo2-low"
    assert payload["link"] == f"/alerts/{alert['id']}"
    text = str(payload)
    assert clinic.nhs[pid] not in text and "Patient" not in text


def test_back_in_range_marks_condition_cleared(clinic: Clinic) -> None:
    pid = clinic.patient([])
    clinic.feed(pid, Metric.PULSE, 125, NOW)
    clinic.feed(pid, Metric.PULSE, 80, NOW + timedelta(hours=1))
    alert = clinic.alert(pid, "pulse")
    assert alert is not None and alert["status"] == "open"
    assert alert["condition_cleared_at"] is not None
    clinic.feed(pid, Metric.PULSE, 126, NOW + timedelta(hours=2))
    alert = clinic.alert(pid, "pulse")
    assert alert is not None and alert["condition_cleared_at"] is None


def test_resolved_alert_is_suppressed_unless_worse(clinic: Clinic) -> None:
    pid = clinic.patient([])
    clinic.feed(pid, Metric.SPO2, 93, NOW)
    [alert] = clinic.alerts(pid)
    resolve(clinic.conn, alert["id"], Actor(None, "matron.jones"), "advice-given")
    clinic.feed(pid, Metric.SPO2, 92, NOW + timedelta(hours=2), now=NOW + timedelta(hours=2))
    assert len(clinic.alerts(pid)) == 1
    clinic.feed(pid, Metric.SPO2, 90, NOW + timedelta(hours=3), now=NOW + timedelta(hours=3))
    assert [a["severity"] for a in clinic.alerts(pid)] == ["amber", "red"]


def test_suppression_window_ends(clinic: Clinic) -> None:
    pid = clinic.patient([])
    clinic.feed(pid, Metric.SPO2, 93, NOW)
    [alert] = clinic.alerts(pid)
    resolved_alert = resolve(clinic.conn, alert["id"], Actor(None, "matron.jones"), "advice-given")
    later = resolved_alert["resolved_at"] + timedelta(hours=24, minutes=1)
    clinic.feed(pid, Metric.SPO2, 93, later, now=later)
    assert len(clinic.alerts(pid)) == 2


def test_two_ambers_on_different_metrics_make_a_red_review(clinic: Clinic) -> None:
    pid = clinic.patient(["heart-failure", "copd"])
    _weights(clinic, pid, [80.0, 80.5, 80.5, 82.0])
    assert clinic.alert(pid, "combined-amber") is None
    clinic.feed(pid, Metric.SPO2, 93, MORNING + timedelta(minutes=5))
    combined = clinic.alert(pid, "combined-amber")
    assert combined is not None and combined["severity"] == "red"
    assert "Weight gain" in combined["message"]


def test_a_batch_is_evaluated_in_one_call(clinic: Clinic) -> None:
    a, b = clinic.patient(["copd"]), clinic.patient(["diabetes"])
    batch = [clinic.store(a, Metric.SPO2, v, NOW + k * timedelta(minutes=5))
             for k, v in enumerate([97, 90, 89])]
    batch += [clinic.store(b, Metric.GLUCOSE, 2.8, NOW), clinic.store(a, Metric.PULSE, 72, NOW)]
    evaluate(clinic.conn, batch, now=NOW + timedelta(minutes=15))
    low = clinic.alert(a, "spo2-low")
    assert low is not None and low["occurrences"] == 2
    hypo = clinic.alert(b, "glucose-low")
    assert hypo is not None and hypo["severity"] == "red"
    assert len(clinic.outbox()) == 2


def test_redelivered_batch_raises_nothing_new(clinic: Clinic) -> None:
    pid = clinic.patient([])
    clinic.feed(pid, Metric.SPO2, 90, NOW)
    evaluate(clinic.conn, [], now=NOW)     # ingest stored nothing new the second time
    assert len(clinic.alerts(pid)) == 1 and len(clinic.outbox()) == 1


def test_stable_patient_over_30_days_raises_nothing(clinic: Clinic) -> None:
    pid = clinic.patient(["heart-failure", "copd", "type2-diabetes"])
    batch = []
    start = MORNING - 30 * DAY
    for day in range(31):
        t = start + day * DAY
        wobble = (day % 3 - 1) * 0.2
        batch.append(clinic.store(pid, Metric.WEIGHT, 80.0 + wobble, t))
        for h, (s, p) in enumerate([(98, 72), (97, 78)]):
            batch.append(clinic.store(pid, Metric.SPO2, s - (day % 2), t + timedelta(hours=h * 10)))
            batch.append(clinic.store(pid, Metric.PULSE, p + day % 5, t + timedelta(hours=h * 10)))
        batch.append(clinic.store(pid, Metric.GLUCOSE, 6.0 + (day % 4), t + timedelta(hours=1)))
    evaluate(clinic.conn, batch, now=MORNING)
    assert clinic.alerts(pid) == []


class _CountingCursor(psycopg.Cursor[Any]):
    statements = 0

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        type(self).statements += 1
        return super().execute(*args, **kwargs)

    def executemany(self, *args: Any, **kwargs: Any) -> None:
        type(self).statements += 1
        super().executemany(*args, **kwargs)


def test_statements_per_batch_do_not_grow_with_the_batch(clinic: Clinic) -> None:
    patients = [clinic.patient(["copd", "type2-diabetes"]) for _ in range(20)]
    small = [clinic.store(patients[0], Metric.SPO2, 90, NOW)]
    big = [clinic.store(pid, metric, value, NOW + k * timedelta(minutes=1))
           for k in range(1, 11) for pid in patients
           for metric, value in ((Metric.SPO2, 88 + k % 8), (Metric.GLUCOSE, 3.0 + 2 * k))]
    counts = []
    clinic.conn.cursor_factory = _CountingCursor
    try:
        for batch in (small, big):
            _CountingCursor.statements = 0
            evaluate(clinic.conn, batch, now=NOW + timedelta(minutes=15))
            counts.append(_CountingCursor.statements)
    finally:
        clinic.conn.cursor_factory = psycopg.Cursor
    assert len(big) == 400 and len(clinic.alerts()) >= 40
    assert counts[1] <= counts[0] + 4, counts     # a few statements, not one per reading


def test_batch_ending_in_range_raises_then_marks_cleared(clinic: Clinic) -> None:
    pid = clinic.patient([])
    batch = [clinic.store(pid, Metric.SPO2, v, NOW + k * timedelta(minutes=5))
             for k, v in enumerate([89, 97])]
    evaluate(clinic.conn, batch, now=NOW + timedelta(minutes=10))
    alert = clinic.alert(pid, "spo2-low")
    assert alert is not None and alert["severity"] == "red"
    assert alert["condition_cleared_at"] is not None and alert["status"] == "open"
    assert len(clinic.outbox()) == 1              # still notified: a nurse must look
