"""The team view's rule performance and suggested thresholds, and the Outcomes page's
before/after figures, against the real API: figures as worked out by hand, a suggestion
accepted from the page as a threshold change, and small numbers called too small."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from streamlit.testing.v1 import AppTest

from telehub.care.plan import add_months
from telehub.db.pool import connect
from telehub.domain import clock
from tests.dashboard.conftest import Seeded, no_exceptions, page_text, sign_in
from tests.dashboard.test_outcomes_and_risk import _table_with, with_rows


def _figures(at: AppTest) -> list[dict[str, Any]]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def _noise_alerts(conn: psycopg.Connection[Any], patient: int, team: int, now: datetime) -> None:
    """Six SpO2 amber alerts resolved as noise (worst 94 or 93 %), acknowledged after 30, 60,
    … 180 minutes; and a pulse alert resolved with a visit, acknowledged after 15."""
    for i, worst in enumerate((94, 93, 94, 94, 93, 94)):
        at = now - timedelta(days=2 + 3 * i)
        conn.execute(
            "INSERT INTO alerts (patient_id, team_id, rule_id, severity, status, message, "
            "metric, first_breach_at, last_breach_at, created_at, values, acknowledged_at, "
            "resolved_at, outcome) VALUES (%s, %s, 'spo2-scale1-info', 'info', 'resolved', "
            "'SpO2 low', 'spo2', %s, %s, %s, %s, %s, %s, 'no-action-needed')",
            (patient, team, at, at, at, Jsonb({"worst": {"value": worst}}),
             at + timedelta(minutes=30 * (i + 1)), at + timedelta(hours=4)))
    at = now - timedelta(days=4)
    conn.execute(
        "INSERT INTO alerts (patient_id, team_id, rule_id, severity, status, message, metric, "
        "first_breach_at, last_breach_at, created_at, acknowledged_at, resolved_at, outcome) "
        "VALUES (%s, %s, 'pulse-amber', 'amber', 'resolved', 'Pulse fast', 'pulse', %s, %s, "
        "%s, %s, %s, 'visit-arranged')", (patient, team, at, at, at,
                                          at + timedelta(minutes=15), at + timedelta(hours=2)))


def test_the_team_view_shows_rule_performance_and_a_matron_accepts_a_suggestion(
        app_test: AppTest, seeded: Seeded, db_url: str) -> None:
    with connect(db_url) as conn:
        _noise_alerts(conn, seeded.amber_patient, seeded.team_id, clock.now())
    at = sign_in(app_test, "matron.north")
    at.switch_page("views/team.py").run()
    no_exceptions(at)
    table = _table_with(at, "Share with action").set_index("Rule")
    info = table.loc["spo2-scale1-info"]
    assert (info["Alerts"], info["Action"], info["Noise"]) == (6, 0, 6)
    assert info["Share with action"] == "0%"
    assert info["Median minutes to acknowledge"] == 105.0      # of 30, 60, … 180
    assert table.loc["pulse-amber", "Share with action"] == "100%"
    # The seeded open alerts (amber and red, never resolved) are still open.
    assert table.loc["spo2-scale1-red", "Still open"] == 1
    stacked = next(f for f in _figures(at) if f["data"][0].get("name") == "led to action")
    assert dict(zip(stacked["data"][1]["x"], stacked["data"][1]["y"], strict=True))[
        "spo2-scale1-info"] == 6
    text = page_text(at)
    # Info at 95 %: worst 93 % less one step is amber's own 93 %: kept at 94 %.
    assert "TH-000002 · spo2-scale1-info" in text and "Suggested: at or below 94 %" in text
    at.button(key="suggest_0_accept").click().run()
    assert "Say why" in page_text(at)
    assert with_rows(db_url, "SELECT count(*) AS n FROM thresholds") == [{"n": 0}]
    at.text_input(key="suggest_0_reason").input("Usual SpO2 94 %, stable COPD")
    at.button(key="suggest_0_accept").click().run()
    no_exceptions(at)
    assert with_rows(db_url, "SELECT rule_id, params, reason, set_by_name FROM thresholds") == [
        {"rule_id": "spo2-scale1-info", "params": {"at_or_below": 94.0},
         "reason": "Accepted suggestion: Usual SpO2 94 %, stable COPD",
         "set_by_name": "Ruth Calder"}]
    assert with_rows(db_url, "SELECT decision FROM threshold_suggestion_decisions") == [
        {"decision": "accepted"}]
    assert "No rule has fired 5 times in 30 days" in page_text(at)


def test_a_matron_dismisses_a_suggestion_from_the_team_view_with_a_reason(
        app_test: AppTest, seeded: Seeded, db_url: str) -> None:
    with connect(db_url) as conn:
        _noise_alerts(conn, seeded.amber_patient, seeded.team_id, clock.now())
    at = sign_in(app_test, "matron.north")
    at.switch_page("views/team.py").run()
    no_exceptions(at)
    assert "TH-000002 · spo2-scale1-info" in page_text(at)
    at.button(key="suggest_0_dismiss").click().run()
    assert "Say why" in page_text(at)
    assert with_rows(db_url, "SELECT count(*) AS n FROM threshold_suggestion_decisions") == [
        {"n": 0}]
    at.text_input(key="suggest_0_reason").input("Low readings are her cold fingers")
    at.button(key="suggest_0_dismiss").click().run()
    no_exceptions(at)
    # Recorded with its reason, no threshold changed, and not suggested again meanwhile.
    assert with_rows(db_url, "SELECT decision, reason FROM threshold_suggestion_decisions") == [
        {"decision": "dismissed", "reason": "Low readings are her cold fingers"}]
    assert with_rows(db_url, "SELECT count(*) AS n FROM thresholds") == [{"n": 0}]
    at.switch_page("views/team.py").run()
    assert "No rule has fired 5 times in 30 days" in page_text(at)


def _episode(conn: psycopg.Connection[Any], patient: int, kind: str, started: date,
             nights: int | None = None) -> None:
    conn.execute("INSERT INTO hospital_episodes (patient_id, kind, started_on, discharged_on, "
                 "source, recorded_by) VALUES (%s, %s, %s, %s, 'manual', 'seed')",
                 (patient, kind, started,
                  started + timedelta(days=nights) if nights is not None else None))


def seed_before_after(db_url: str, seeded: Seeded) -> tuple[float, float]:
    """Two patients enrolled 8 and 7 months ago with episodes before and since; the
    patient-years (before, after) worked out by hand."""
    today = clock.today()
    first, second = add_months(today, -8), add_months(today, -7)
    with connect(db_url) as conn:
        for patient, day in ((seeded.green_patient, first), (seeded.amber_patient, second)):
            conn.execute("UPDATE patients SET enrolled_at = %s WHERE id = %s",
                         (clock.day_start(day) + timedelta(hours=10), patient))
        adm, ae = "emergency-admission", "ae-attendance"
        _episode(conn, seeded.green_patient, adm, first - timedelta(days=100), 3)
        _episode(conn, seeded.green_patient, adm, first - timedelta(days=30), 4)
        _episode(conn, seeded.green_patient, ae, first - timedelta(days=10))
        _episode(conn, seeded.green_patient, adm, first + timedelta(days=20), 2)
        _episode(conn, seeded.amber_patient, ae, second + timedelta(days=5))
    before = sum((d - add_months(d, -12)).days for d in (first, second)) / 365.25
    after = sum((today - d).days + 1 for d in (first, second)) / 365.25
    return before, after


def test_the_outcomes_page_shows_before_and_since_enrolment_and_says_it_is_too_small(
        app_test: AppTest, seeded: Seeded, db_url: str) -> None:
    before, after = seed_before_after(db_url, seeded)
    at = sign_in(app_test, "matron.north")
    at.switch_page("views/outcomes.py").run()
    no_exceptions(at)
    text = page_text(at)
    assert "2 patients monitored 6 months or more" in text
    assert "These numbers are too small to mean anything." in text
    chart, beds = (f for f in _figures(at)
                   if f["data"][0].get("name") == "monitored: 12 months before enrolment")
    assert chart["data"][0]["x"] == ["Emergency admissions", "A&E attendances"]
    assert chart["data"][0]["y"] == [round(n / before * 1000, 2) for n in (2, 1)]
    assert chart["data"][1]["y"] == [round(n / after * 1000, 2) for n in (1, 1)]
    assert beds["data"][0]["x"] == ["Bed days (emergency admissions)"]
    assert (beds["data"][0]["y"], beds["data"][1]["y"]) == ([round(7 / before * 1000, 2)],
                                                            [round(2 / after * 1000, 2)])
    # The error bar reaches the exact upper limit: 2 admissions, upper 7.2247 (Garwood).
    top = chart["data"][0]["y"][0] + chart["data"][0]["error_y"]["array"][0]
    assert abs(top - 7.2247 / before * 1000) < 0.1
    table = _table_with(at, "Before: per 1,000 (95 % CI)")
    assert list(table["Before: events"]) == [2, 1, 7]
    assert list(table["Too small"]) == ["yes", "yes", "yes"]
    assert any(b.proto.label == "Download the figures (CSV)" for b in at.get("download_button"))
