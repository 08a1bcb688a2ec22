"""Patient page: header, charts with threshold bands and alert markers, readings, alert
timeline, threshold editor, devices, care team and consent, care plan and admissions."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from dashboard.adherence import adherence
from dashboard.client import reads, session
from dashboard.client.alerts import Alert
from dashboard.client.patients import Patient, Readings, Threshold
from dashboard.components.admissions_section import admissions_section
from dashboard.components.alert_cards import event_line
from dashboard.components.care_plan_section import care_plan_section
from dashboard.components.care_team_section import care_team_section
from dashboard.components.changes import NOTICE_KEY
from dashboard.components.charts import metric_figure
from dashboard.components.formatting import (
    conditions_text,
    format_adherence,
    format_battery,
    format_online,
    format_reading,
    metric_label,
    outcome_text,
    schedule_text,
    severity_chip,
)
from dashboard.components.text import escape_markdown
from dashboard.components.threshold_editor import threshold_section
from dashboard.components.times import RANGES_DAYS, chart_window, format_local, time_ago
from telehub.domain import clock
from telehub.domain.patients import age_on
from telehub.domain.units import Metric

METRICS = tuple(m.value for m in Metric)


def _pick_patient() -> int | None:
    """The patient chosen on the caseload, or one chosen here."""
    chosen = st.session_state.get(session.PATIENT_KEY)
    with session.handling_errors():
        rows = reads.caseload().rows
    choices = {r.patient_id: f"{r.name} ({r.display_id})" for r in rows}
    if chosen is not None and chosen not in choices:
        choices[int(chosen)] = f"patient {chosen}"
    options = list(choices)
    pick = st.selectbox("Patient", options, format_func=choices.__getitem__,
                        index=options.index(chosen) if chosen in options else None,
                        placeholder="Choose a patient…", key="patient_pick")
    if pick is not None:
        st.session_state[session.PATIENT_KEY] = pick
    return pick


def _header(patient: Patient) -> None:
    st.title(f"{escape_markdown(patient.name)} · {escape_markdown(patient.display_id)}")
    today = clock.today(session.settings().zone)
    plan = schedule_text((m, slot.get("per_day", "?"), slot.get("window"))
                         for m, slot in patient.care_plan.items() if isinstance(slot, dict))
    cols = st.columns(4)
    cols[0].markdown(f"**Age** {age_on(patient.birth_date, today)}  \n"
                     f"**Status** {patient.status}")
    oxygen = "  \n**Home oxygen** yes" if patient.on_home_oxygen else ""
    cols[1].markdown(f"**Conditions** {conditions_text(patient.conditions)}{oxygen}")
    cols[2].markdown(f"**Named nurse** {escape_markdown(_named_nurse(patient))}")
    cols[3].markdown(f"**Care plan** {plan}")


def _named_nurse(patient: Patient) -> str:
    if patient.named_nurse_id is None:
        return "not set"
    with session.handling_errors():
        rows = reads.caseload().rows
    row = next((r for r in rows if r.patient_id == patient.id), None)
    return (row.named_nurse if row and row.named_nurse else f"staff {patient.named_nurse_id}")


def _metrics_shown(patient: Patient, data: Readings) -> list[str]:
    present = {r.metric for r in data.raw} | {b.metric for b in data.buckets}
    return [m for m in METRICS if m in present or m in patient.care_plan]


def _charts(patient: Patient, data: Readings, thresholds: list[Threshold],
            alerts: list[Alert]) -> None:
    zone = session.settings().zone
    shown = _metrics_shown(patient, data)
    if not shown:
        st.info("No readings in this range. Check the patient's devices below, or pick a "
                "longer range.")
        return
    for metric in shown:
        raw = [r for r in data.raw if r.metric == metric]
        buckets = [b for b in data.buckets if b.metric == metric]
        if not raw and not buckets:
            st.markdown(f"**{metric_label(metric)}**: no readings in this range.")
            continue
        st.plotly_chart(metric_figure(metric, raw=raw, buckets=buckets, thresholds=thresholds,
                                      alerts=alerts, zone=zone, since=data.start,
                                      until=data.end),
                        width="stretch", key=f"chart_{metric}")


def _readings_table(data: Readings) -> None:
    zone = session.settings().zone
    if data.buckets:
        frame = pd.DataFrame([{
            "Day": format_local(b.start, zone), "Metric": metric_label(b.metric),
            "Min": format_reading(b.metric, b.min), "Mean": format_reading(b.metric, b.mean),
            "Max": format_reading(b.metric, b.max), "Readings": b.n,
        } for b in sorted(data.buckets, key=lambda b: b.start, reverse=True)])
    else:
        frame = pd.DataFrame([{
            "Time": format_local(r.time, zone), "Metric": metric_label(r.metric),
            "Value": format_reading(r.metric, r.value),
            "As sent": f"{r.raw_value:g} {r.raw_unit}" if r.raw_value is not None else "",
            "Flags": ", ".join(r.flags) or "—", "Device": r.device_id or "",
        } for r in sorted(data.raw, key=lambda r: r.time, reverse=True)])
    if frame.empty:
        st.info("No readings in this range.")
        return
    st.dataframe(frame, hide_index=True, width="stretch", key="readings_table")


def _alert_timeline(alerts: list[Alert]) -> None:
    """Every alert, newest first; the chosen one's history step by step."""
    zone = session.settings().zone
    if not alerts:
        st.info("No alerts for this patient.")
        return
    ordered = sorted(alerts, key=lambda a: a.first_breach_at, reverse=True)
    st.dataframe(pd.DataFrame([{
        "First breach": format_local(a.first_breach_at, zone),
        "Severity": severity_chip(a.severity), "Alert": a.title,
        "Status": a.status + (f" · watched until {format_local(a.watch_until, zone)}"
                              if a.watch_until else ""),
        "Outcome": outcome_text(a.outcome), "What happened": a.message,
    } for a in ordered]), hide_index=True, width="stretch", key="alerts_table")
    labels = {a.id: f"{format_local(a.first_breach_at, zone)} · {a.severity.upper()} · "
                    f"{a.title}" for a in ordered}
    chosen = st.selectbox("History of", list(labels), format_func=labels.__getitem__,
                          index=0, key="alert_history_pick")
    if chosen is None:
        return
    with session.handling_errors():
        events = session.api().alert_events(chosen)
    for event in events:
        st.markdown(event_line(event, zone))


def _devices(patient: Patient) -> None:
    now = clock.now()
    with session.handling_errors():
        devices = reads.caseload().rows
    row = next((r for r in devices if r.patient_id == patient.id), None)
    if row is None or not row.devices:
        st.info("No device is linked to this patient. An admin links one on the Devices page.")
        return
    st.dataframe(pd.DataFrame([{
        "Device": d.device_id, "Kind": d.kind, "Status": format_online(d.online),
        "Last seen": time_ago(d.last_seen_at, now), "Battery": format_battery(d.battery),
    } for d in row.devices]), hide_index=True, width="stretch", key="devices_table")


def render() -> None:
    """The whole patient page."""
    patient_id = _pick_patient()
    if patient_id is None:
        st.info("Choose a patient above, or open one from the caseload.")
        return
    notice = st.session_state.pop(NOTICE_KEY, None)
    with session.handling_errors():
        patient = reads.patient(patient_id)
    thresholds = _patient_thresholds(patient_id)
    alerts = _patient_alerts(patient_id)
    _header(patient)
    if notice:
        st.success(notice)
    days = st.segmented_control("Range", RANGES_DAYS, default=7, key="patient_range",
                                format_func=lambda d: "1 year" if d == 365 else f"{d} days")
    window = chart_window(int(days or 7), _minute(clock.now()))
    with session.handling_errors():
        data = reads.readings(patient_id, window.start, window.end, window.bucket)
    _adherence(patient, data, int(days or 7))
    charts, table, timeline, editor, devices, care, plan, stays = st.tabs(
        ["Charts", "Readings", "Alerts", "Thresholds", "Devices", "Care team and consent",
         "Care plan", "Admissions"])
    with charts:
        _charts(patient, data, thresholds, alerts)
    with table:
        _readings_table(data)
    with timeline:
        _alert_timeline(alerts)
    with editor:
        threshold_section(patient, thresholds)
    with devices:
        _devices(patient)
    with care:
        care_team_section(patient)
    with plan:
        care_plan_section(patient)
    with stays:
        admissions_section(patient)


def _adherence(patient: Patient, data: Readings, days: int) -> None:
    result = adherence(patient.care_plan, data.start, data.end, raw=data.raw,
                       buckets=data.buckets)
    if result is None:
        st.caption("No care-plan schedule, so adherence is not measured.")
        return
    st.markdown(f"**Adherence, last {days} days:** {result.received} of {result.expected} "
                f"expected readings ({format_adherence(result.share)})")


def _patient_thresholds(patient_id: int) -> list[Threshold]:
    """The patient's thresholds; if they cannot be read the rest of the page still shows."""
    return session.read_or_warn(lambda: reads.thresholds(patient_id),
                                "Thresholds could not be loaded") or []


def _patient_alerts(patient_id: int) -> list[Alert]:
    """The patient's alerts; if they cannot be read the rest of the page still shows."""
    return session.read_or_warn(lambda: session.api().alerts(patient_id=patient_id, limit=200),
                                "Alerts could not be loaded") or []


def _minute(now: datetime) -> datetime:
    """Now to the minute, so reruns within a minute reuse the cached readings."""
    return now.replace(second=0, microsecond=0)


render()
