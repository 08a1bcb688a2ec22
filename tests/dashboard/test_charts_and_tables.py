"""Pure pieces of the pages: chart bands and markers, the caseload table, API error mapping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from dashboard.client import (
    Forbidden,
    Invalid,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
    error_for,
)
from dashboard.client.alerts import Alert
from dashboard.client.patients import Bucket, CaseloadRow, Reading, Threshold
from dashboard.components.alert_cards import inbox_order
from dashboard.components.caseload_table import caseload_frame, filter_rows, status_text
from dashboard.components.charts import metric_figure, rule_severity, threshold_zones

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 7, 1, 12, tzinfo=UTC)


def _reading(value: float, hours_ago: float, flags: tuple[str, ...] = ()) -> Reading:
    return Reading(time=NOW - timedelta(hours=hours_ago), metric="spo2", value=value, unit="%",
                   flags=list(flags))


def _alert(severity: str, latest: object, hours_ago: float = 2) -> Alert:
    at = NOW - timedelta(hours=hours_ago)
    return Alert(id=1, patient_id=1, team_id=1, rule_id=f"spo2-scale1-{severity}",
                 severity=severity, status="open", message="SpO2 low", metric="spo2",
                 first_breach_at=at, last_breach_at=at, values={"latest": latest},
                 created_at=at)


def test_band_rules_draw_zones_below_or_above_their_limits() -> None:
    red = Threshold(rule_id="spo2-scale1-red", params={"at_or_below": 91})
    pulse = Threshold(rule_id="pulse-red", params={"at_or_below": 40, "at_or_above": 131},
                      individual=True)
    hypo = Threshold(rule_id="glucose-hypo-severe", params={"below": 54}, severity="red",
                     units={"below": "mg/dL"})
    assert [(z.severity, z.limit, z.below) for z in threshold_zones(red, "spo2")] == [
        ("red", 91.0, True)]
    assert threshold_zones(red, "pulse") == []
    assert [(z.limit, z.below, z.individual) for z in threshold_zones(pulse, "pulse")] == [
        (40.0, True, True), (131.0, False, True)]
    # Thresholds stated in mg/dL are drawn in the canonical mmol/L.
    assert threshold_zones(hypo, "glucose")[0].limit == pytest.approx(54 / 18.016)
    assert threshold_zones(hypo, "glucose")[0].shown == "3.0 mmol/L (54 mg/dL)"  # mmol/L first
    assert threshold_zones(Threshold(rule_id="glucose-hypo", params={"below": 4.0}),
                           "glucose")[0].limit == 4.0
    # A rule that does not apply to the patient (e.g. scale 2) draws nothing.
    assert threshold_zones(Threshold(rule_id="spo2-scale2-red", params={"at_or_below": 83},
                                     applies=False), "spo2") == []
    # Relative rules (weight gain) have no fixed band.
    assert threshold_zones(Threshold(rule_id="weight-gain-3d",
                                     params={"gain_kg": 2.0, "days": 3}), "weight") == []
    assert rule_severity("weight-gain-3d") == "amber" and rule_severity("pulse-info") == "info"


def test_metric_chart_has_bands_alert_markers_and_london_wall_times() -> None:
    thresholds = [Threshold(rule_id="spo2-scale1-red", params={"at_or_below": 91}),
                  Threshold(rule_id="spo2-scale1-amber", params={"at_or_below": 93})]
    fig = metric_figure("spo2", raw=[_reading(95, 30), _reading(92, 20, ("low-quality",)),
                                     _reading(89, 2)],
                        thresholds=thresholds, alerts=[_alert("red", {"value": 89})],
                        zone=LONDON)
    readings, markers = fig.data
    # 10:00 UTC in July is 11:00 BST on screen.
    assert readings.x[-1] == datetime(2026, 7, 1, 11, 0)
    assert list(readings.y) == [95, 92, 89]
    assert list(readings.marker.symbol) == ["circle", "x", "circle"]  # flagged readings stand out
    assert list(markers.text) == ["RED"] and list(markers.y) == [89]
    labels = [a.text for a in fig.layout.annotations]
    assert "RED ≤ 91" in labels and "AMBER ≤ 93" in labels
    low, high = fig.layout.yaxis.range
    assert low < 89 and high > 95


def test_alert_markers_sit_on_their_reading_and_only_inside_the_window() -> None:
    raw = [_reading(95, 30), _reading(90, 2)]
    alerts = [_alert("red", {"value": 90, "time": NOW.isoformat()}),
              _alert("amber", None, hours_ago=5),  # no value: drawn along the top edge
              _alert("red", {"value": 88}, hours_ago=24 * 40)]  # before the window: not drawn
    fig = metric_figure("spo2", raw=raw, alerts=alerts, zone=LONDON,
                        since=NOW - timedelta(days=7))
    markers = fig.data[1]
    assert list(markers.text) == ["RED", "AMBER"]
    assert markers.y[0] == 90 and markers.y[1] == fig.layout.yaxis.range[1]


def test_an_old_open_alert_never_widens_a_seven_day_chart() -> None:
    """First breached 30 days ago and breaching still: marked at the range's start, with its
    first breach in words; the axis stays the 7 days asked for."""
    since = NOW - timedelta(days=7)
    old = _alert("red", {"value": 89}, hours_ago=2).model_copy(
        update={"first_breach_at": NOW - timedelta(days=30)})
    fig = metric_figure("spo2", raw=[_reading(93, 24 * 6), _reading(89, 2)], alerts=[old],
                        zone=LONDON, since=since, until=NOW)
    start, end = (datetime.fromisoformat(str(x)) for x in fig.layout.xaxis.range)
    assert (start, end) == (datetime(2026, 6, 24, 13, 0), datetime(2026, 7, 1, 13, 0))  # BST
    markers = fig.data[1]
    assert list(markers.x) == [start] and list(markers.text) == ["RED"]
    assert "first breach 01 Jun 13:00, before this range" in markers.hovertext[0]


def test_the_inbox_puts_the_worst_severity_first_then_the_newest_breach() -> None:
    alerts = [_alert("amber", None, hours_ago=1), _alert("red", None, hours_ago=5),
              _alert("info", None, hours_ago=0.5), _alert("red", None, hours_ago=2)]
    ordered = inbox_order(alerts)
    assert [(a.severity, a.last_breach_at) for a in ordered] == [
        ("red", NOW - timedelta(hours=2)), ("red", NOW - timedelta(hours=5)),
        ("amber", NOW - timedelta(hours=1)), ("info", NOW - timedelta(hours=0.5))]


def test_bucketed_chart_draws_the_daily_range_and_mean() -> None:
    buckets = [Bucket(start=NOW - timedelta(days=d), metric="weight", min=80 + d / 10,
                      max=81 + d / 10, mean=80.5 + d / 10, n=2) for d in range(3)]
    fig = metric_figure("weight", buckets=buckets, zone=LONDON)
    assert [t.name for t in fig.data] == ["daily max", "daily range (min–max)", "daily mean"]
    assert fig.data[1].fill == "tonexty"


def _row(pid: int, triage: str, given: str, conditions: list[str], **extra: object) -> CaseloadRow:
    return CaseloadRow.model_validate({
        "patient_id": pid, "display_id": f"TH-{pid:06d}", "given_name": given,
        "family_name": "Test", "status": "active", "conditions": conditions, "triage": triage,
        "age": 83 - pid, **extra})


def test_caseload_filters_by_search_condition_and_status() -> None:
    rows = [_row(1, "red", "Ann", ["copd"]), _row(2, "amber", "Bob", ["heart-failure"]),
            _row(3, "ok", "Cat", ["copd", "type2-diabetes"])]
    assert [r.patient_id for r in filter_rows(rows, search="bob")] == [2]
    assert [r.patient_id for r in filter_rows(rows, search="th-000003")] == [3]
    assert [r.patient_id for r in filter_rows(rows, conditions=["copd"])] == [1, 3]
    assert [r.patient_id for r in filter_rows(rows, triage=["red", "amber"])] == [1, 2]


def test_caseload_table_keeps_order_and_says_everything_in_words() -> None:
    rows = [
        _row(1, "red", "Ann", ["copd"], open_alerts={"red": 1, "amber": 0, "info": 0},
             latest=[{"metric": "spo2", "value": 89, "unit": "%",
                      "time": (NOW - timedelta(hours=2)).isoformat(),
                      "trend": [{"day": "2026-06-30", "mean": 91}, {"day": "2026-07-01",
                                                                   "mean": 89}]}],
             devices=[{"device_id": "oxi-1", "kind": "oximeter", "online": False,
                       "last_seen_at": (NOW - timedelta(days=2)).isoformat(), "battery": 9}]),
        _row(2, "overdue", "Bob", ["heart-failure"], overdue_metrics=["weight"]),
    ]
    frame = caseload_frame(rows, NOW, LONDON)
    assert list(frame["Age"]) == ["82", "81"]  # as the API says
    assert list(frame["Status"]) == ["🔴 RED", "🟠 AMBER · overdue: weight"]
    assert frame.loc[0, "spo2"] == "89 % · 2 h ago"
    assert frame.loc[0, "spo2_trend"] == [91, 89]
    assert frame.loc[0, "Open alerts"] == "1 red"
    assert frame.loc[0, "Devices"] == "oximeter offline, seen 2 d ago, 🪫 9 % low"
    assert frame.loc[1, "weight"] == "—" and frame.loc[1, "Devices"] == "no device"
    assert status_text(rows[1]).endswith("overdue: weight")


def _response(status: int, body: object) -> httpx.Response:
    return httpx.Response(status, json=body, request=httpx.Request("GET", "http://api/x"))


def test_api_errors_map_to_classes_a_page_can_act_on() -> None:
    assert isinstance(error_for(_response(401, {"title": "Unauthorized"})), Unauthorized)
    assert isinstance(error_for(_response(403, {"title": "Forbidden"})), Forbidden)
    assert isinstance(error_for(_response(404, {"title": "Not found"})), NotFound)
    down = error_for(_response(503, {"title": "Service Unavailable"}))
    assert isinstance(down, ServiceUnavailable) and "unavailable" in down.message
    invalid = error_for(_response(422, {
        "title": "Invalid request", "detail": "The request is not valid.", "code": "invalid",
        "errors": [{"loc": ["body", "reason"], "msg": "too short"}]}))
    assert isinstance(invalid, Invalid)
    assert invalid.message == "The request is not valid. (reason: too short)"
    assert invalid.code == "invalid"
    plain = error_for(httpx.Response(500, text="boom", request=httpx.Request("GET", "http://a")))
    assert plain.status == 500 and "500" in plain.message


def test_an_api_that_does_not_answer_is_service_unavailable() -> None:
    from dashboard.client import ApiClient, new_http
    from tests.dashboard.conftest import free_port

    client = ApiClient(new_http(f"http://127.0.0.1:{free_port()}", timeout=2), "t")
    with pytest.raises(ServiceUnavailable, match="cannot be reached"):
        client.me()
