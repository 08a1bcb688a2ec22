"""The patient page's care plan: the schedule, "when to act" triggers with the patient's advice,
the review date and past reviews, risk tiers and the printable plan."""

from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st

from dashboard.client import reads, session
from dashboard.client.care import CarePlan, ScheduleItem
from dashboard.client.patients import Patient
from dashboard.components.changes import can_edit, save_change
from dashboard.components.formatting import metric_label, schedule_text, severity_chip
from dashboard.components.text import escape_markdown
from dashboard.components.times import due_words
from telehub.domain import clock
from telehub.domain.units import Metric

SCHEDULE_METRICS = tuple(m.value for m in Metric)


def review_text(plan: CarePlan, today: date) -> str:
    """'Review due 03 Feb 2027', 'Review due today (…)', '⚠️ REVIEW OVERDUE since 01 Oct 2026'
    or 'no review date'; `today` is the service's local date."""
    if plan.review_due is None:
        return "No review date set: record a review to set one."
    when = plan.review_due.strftime("%d %b %Y")
    state = "overdue" if plan.review_overdue else due_words(plan.review_due, today)
    if state == "overdue":
        return f"⚠️ REVIEW OVERDUE since {when}"
    return f"Review due today ({when})" if state == "today" else f"Review due {when}"


def _today() -> date:
    return clock.today(session.settings().zone)


def care_plan_section(patient: Patient) -> None:
    """Schedule, triggers with advice, review, and the one-page plan to print."""
    plan = session.read_or_warn(lambda: reads.care_plan(patient.id),
                                "The care plan could not be loaded")
    if plan is None:
        return
    st.markdown(f"**{review_text(plan, _today())}**")
    schedule = schedule_text((s.metric, s.per_day, s.window) for s in plan.schedule)
    st.markdown(f"**Measurements** {schedule}")
    if plan.triggers:
        st.markdown("**When to act**")
        st.dataframe(pd.DataFrame([{
            "Severity": severity_chip(t.severity), "When": t.when, "What it means": t.label,
            "What to do": t.advice or "—",
            "Threshold": "individual" if t.individual else "default",
        } for t in plan.triggers]), hide_index=True, width="stretch", key="triggers_table")
    else:
        st.info("No triggers: rules follow the conditions recorded for the patient.")
    _printable(patient)
    _risk(patient)
    if can_edit():
        _schedule_form(patient, plan)
        _advice_form(patient, plan)
        _review_form(patient)
    if plan.reviews:
        st.markdown("**Past reviews**\n" + "\n".join(
            f"- {r.reviewed_on:%d %b %Y} by {escape_markdown(r.reviewer)}: "
            f"{escape_markdown(r.note or 'no note')} "
            f"(next due {r.next_due:%d %b %Y})" for r in plan.reviews))


def _printable(patient: Patient) -> None:
    html = session.read_or_warn(lambda: reads.care_plan_html(patient.id),
                                "The printable plan could not be made")
    if html is None:
        return
    st.download_button("Printable care plan (one page, opens in the browser to print)",
                       data=html.encode(), file_name=f"care-plan-{patient.display_id}.html",
                       mime="text/html", key="care_plan_print")


def _risk(patient: Patient) -> None:
    scores = session.read_or_warn(lambda: reads.risk_history(patient.id),
                                  "Risk scores could not be loaded")
    if scores is None:
        return
    if not scores:
        st.markdown("**Risk tier** none imported")
        return
    latest, earlier = scores[0], scores[1:]
    trend = ""
    if earlier:
        change = latest.score - earlier[0].score
        trend = f", {'rising' if change > 0 else 'falling' if change < 0 else 'steady'} " \
                f"(was {earlier[0].score:g} on {earlier[0].scored_on:%d %b %Y})"
    st.markdown(f"**Risk tier** {escape_markdown(latest.tier)}: score {latest.score:g} on "
                f"{latest.scored_on:%d %b %Y}{trend}")


def _schedule_form(patient: Patient, plan: CarePlan) -> None:
    current = {s.metric: s for s in plan.schedule}
    with st.form("schedule_edit"):
        st.markdown("**Measurement schedule** (readings a day; 0 means not measured; missing "
                    "readings are alerted against this)")
        cols = st.columns(len(SCHEDULE_METRICS))
        chosen: list[tuple[str, int, str]] = []
        for col, metric in zip(cols, SCHEDULE_METRICS, strict=True):
            item = current.get(metric)
            per_day = col.number_input(f"{metric_label(metric)} per day", min_value=0,
                                       max_value=24, value=item.per_day if item else 0,
                                       key=f"schedule_{metric}")
            window = col.text_input(f"{metric_label(metric)} when", key=f"window_{metric}",
                                    value=(item.window or "") if item else "",
                                    placeholder="e.g. morning")
            chosen.append((metric, int(per_day), window.strip()))
        submitted = st.form_submit_button("Save schedule")
    if submitted:
        schedule = [ScheduleItem(metric=m, per_day=n, window=w or None)
                    for m, n, w in chosen if n > 0]
        save_change(lambda: session.api().set_schedule(patient.id, schedule),
                    "Measurement schedule saved.")


def _advice_form(patient: Patient, plan: CarePlan) -> None:
    episodes = {t.episode: t.label for t in plan.triggers}
    if not episodes:
        return
    with st.form("advice_edit"):
        st.markdown("**What the patient should do**")
        episode = st.selectbox("Trigger", list(episodes), format_func=episodes.__getitem__)
        advice = st.text_area("Advice in the patient's words",
                              placeholder="e.g. Start your rescue pack and call the single "
                                          "point of access.")
        submitted = st.form_submit_button("Save advice")
    if submitted:
        save_change(lambda: session.api().set_advice(patient.id, {episode: advice.strip()}),
                    f"Advice for {escape_markdown(episodes[episode])} saved.")


def _review_form(patient: Patient) -> None:
    with st.form("review_add", clear_on_submit=True):
        st.markdown("**Record a review** (the next falls due in 3 months unless you choose)")
        note = st.text_input("Review note")
        next_due = st.date_input("Next review (optional)", value=None, min_value=_today())
        submitted = st.form_submit_button("Record review")
    if submitted:
        save_change(lambda: session.api().record_review(patient.id, note.strip() or None,
                                                        next_due),
                    "Review recorded.")
