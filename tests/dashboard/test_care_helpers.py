"""Pure care-coordination helpers: queue order and headings, month spans, MDT weeks, review
and risk flags, caseload sorting by risk and review, follow-up due dates, import results."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from dashboard.client.alerts import Alert, QueueItem
from dashboard.client.care import CarePatient, CarePlan, CareTeam, ImportResult, RowError
from dashboard.client.episodes import FollowUp
from dashboard.client.patients import CaseloadRow
from dashboard.components.care_plan_section import review_text
from dashboard.components.care_team_section import consent_text, enrolment_text
from dashboard.components.caseload_table import filter_by_tier, review_flag, risk_text, sort_rows
from dashboard.components.follow_ups_section import due_text
from dashboard.components.imports_section import result_text
from dashboard.components.mdt_section import mdt_frame, week_span_text
from dashboard.components.queue_cards import advance_decision_text, queue_heading, queue_order
from dashboard.components.times import month_span

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def _item(alert_id: int, *, event: str | None = None, status: str = "open",
          escalated: bool = False, minutes_ago: int = 5) -> QueueItem:
    at = NOW - timedelta(minutes=minutes_ago)
    alert = Alert(id=alert_id, patient_id=alert_id, team_id=1, rule_id="r", severity="red",
                  status=status, escalated=escalated, message="m", first_breach_at=at,
                  last_breach_at=at, created_at=at)
    return QueueItem(alert=alert, display_id=f"TH-{alert_id:06d}", display_name="Ann Able",
                     telecare_event=event)


def test_open_telecare_events_head_the_queue_otherwise_the_apis_order_stays() -> None:
    queue = [_item(1), _item(2, event="fall", status="acknowledged"), _item(3),
             _item(4, event="pendant"), _item(5, event="fall")]
    assert [q.alert.id for q in queue_order(queue)] == [4, 5, 1, 2, 3]


def test_a_queue_heading_says_what_happened_in_words() -> None:
    assert queue_heading(_item(7, event="fall", escalated=True, minutes_ago=3), NOW) == (
        "🔴 RED · FALL · Ann Able (TH-000007) · open · ESCALATED · 3 min ago")
    assert queue_heading(_item(8, event="door"), NOW).split(" · ")[1] == "DOOR"


def test_the_advance_decision_flag_is_words_not_only_a_symbol() -> None:
    item = _item(1)
    assert advance_decision_text(item) == "No advance decision recorded."
    flagged = item.model_copy(update={"advance_decision": True})
    assert "Advance decision in place" in advance_decision_text(flagged)
    assert advance_decision_text(flagged).endswith("see the care record")


def test_month_spans_cross_the_new_year() -> None:
    assert month_span(date(2026, 11, 26), 6) == ("2026-06", "2026-11")
    assert month_span(date(2027, 2, 1), 3) == ("2026-12", "2027-02")
    assert month_span(date(2027, 1, 31), 12) == ("2026-02", "2027-01")
    assert month_span(date(2026, 5, 5), 1) == ("2026-05", "2026-05")


def test_an_mdt_week_is_the_seven_days_to_its_last_day() -> None:
    assert week_span_text(date(2026, 12, 7)) == "Tue 01 Dec to Mon 07 Dec 2026"
    assert week_span_text(date(2027, 1, 2)) == "Sun 27 Dec to Sat 02 Jan 2027"
    assert mdt_frame("").empty
    frame = mdt_frame("display_id,reasons\nTH-000003,red alert; admission\n")
    assert frame.to_dict("records") == [{"display_id": "TH-000003",
                                         "reasons": "red alert; admission"}]


def test_the_review_line_flags_an_overdue_review() -> None:
    plan = CarePlan(patient_id=1, display_id="TH-000001", review_due=date(2026, 11, 1),
                    review_overdue=True)
    assert review_text(plan, date(2026, 11, 26)) == "⚠️ REVIEW OVERDUE since 01 Nov 2026"
    due = plan.model_copy(update={"review_due": date(2027, 2, 1), "review_overdue": False})
    assert review_text(due, date(2026, 11, 26)) == "Review due 01 Feb 2027"
    assert review_text(due, date(2027, 2, 1)) == "Review due today (01 Feb 2027)"
    assert review_text(due, date(2027, 2, 2)) == "⚠️ REVIEW OVERDUE since 01 Feb 2027"
    none = plan.model_copy(update={"review_due": None, "review_overdue": False})
    assert review_text(none, date(2026, 11, 26)).startswith("No review date set")


def _care(pid: int, score: float | None, tier: str | None, due: date | None,
          overdue: bool = False, rising: bool = False) -> CarePatient:
    return CarePatient(patient_id=pid, display_id=f"TH-{pid:06d}", name="x", team_id=1,
                       status="active", risk_score=score, risk_tier=tier, review_due=due,
                       review_overdue=overdue, risk_rising=rising)


def _row(pid: int) -> CaseloadRow:
    return CaseloadRow(patient_id=pid, display_id=f"TH-{pid:06d}", given_name="A",
                       family_name="B", status="active", triage="ok", age=80)


def test_caseload_rows_sort_and_filter_by_risk_and_review() -> None:
    rows = [_row(1), _row(2), _row(3), _row(4)]
    care = {1: _care(1, 20, "low", date(2027, 1, 1)), 2: _care(2, 80, "high", None),
            3: _care(3, 80, "high", date(2026, 12, 1), rising=True)}
    assert [r.patient_id for r in sort_rows(rows, care, "risk")] == [2, 3, 1, 4]
    assert [r.patient_id for r in sort_rows(rows, care, "review")] == [3, 1, 2, 4]
    assert [r.patient_id for r in sort_rows(rows, care, "triage")] == [1, 2, 3, 4]
    assert [r.patient_id for r in filter_by_tier(rows, care, ["high"])] == [2, 3]
    assert [r.patient_id for r in filter_by_tier(rows, care, ["no tier", "low"])] == [1, 4]
    assert [r.patient_id for r in filter_by_tier(rows, care, [])] == [1, 2, 3, 4]
    assert risk_text(care[3]) == "high (score 80, rising)"
    assert risk_text(None) == "no tier"
    today = date(2026, 11, 26)
    assert review_flag(_care(5, None, None, date(2026, 10, 1), overdue=True), today) == (
        "⚠️ OVERDUE since 01 Oct 2026")
    assert review_flag(care[1], today) == "due 01 Jan 2027"
    assert review_flag(care[2], today) == "no date"
    # The API's flag or the date: a review due yesterday is overdue either way.
    assert review_flag(_care(6, None, None, date(2026, 11, 25)), today) == (
        "⚠️ OVERDUE since 25 Nov 2026")
    assert review_flag(_care(7, None, None, today), today) == "due today"


def test_follow_ups_say_when_they_are_due() -> None:
    task = FollowUp(id=1, patient_id=1, display_id="TH-000001", title="Call",
                    due_on=date(2026, 11, 24))
    assert due_text(task, date(2026, 11, 26)) == "⚠️ OVERDUE (due 24 Nov 2026)"
    assert due_text(task, date(2026, 11, 24)) == "due today"
    assert due_text(task, date(2026, 11, 20)) == "due 24 Nov 2026"


def test_consent_and_enrolment_in_words() -> None:
    team = CareTeam(patient_id=1)
    assert consent_text(team) == "Monitoring: not recorded · sharing: not recorded"
    assert enrolment_text(team) == "not recorded"
    team = CareTeam(patient_id=1, consent_monitoring=True, consent_sharing=False,
                    consent_on=date(2026, 11, 3), enrolment_risk=True,
                    enrolment_judgement=True, enrolment_note="frequent admissions")
    assert consent_text(team) == ("Monitoring: yes · sharing: no · recorded 03 Nov 2026 by "
                                  "someone not named")
    assert enrolment_text(team) == "risk score, clinical judgement — frequent admissions"


def test_an_import_result_says_what_was_kept_and_refused() -> None:
    result = ImportResult(rows=3, imported=1, unchanged=1,
                          errors=[RowError(row=2, code="bad-nhs-number", message="x")])
    assert result_text(result) == "Imported 1 of 3 rows; 1 already present; 1 refused."
