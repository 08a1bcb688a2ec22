"""The patient page's thresholds: every rule as it applies (a temporary one with its end), and
the form a nurse or matron uses to set an individual threshold, permanent or through a day,
each value with its unit (glucose in mmol/L by default), with the clinical reason."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.client import session
from dashboard.client.patients import Patient, Threshold
from dashboard.components.changes import can_edit, save_change
from dashboard.components.charts import rule_metric
from dashboard.components.text import escape_markdown
from dashboard.components.times import format_local, until_text
from telehub.domain import clock
from telehub.domain.units import SPECS

# The temporary threshold a nurse is offered first: two weeks, "after this exacerbation".
TEMPORARY_DAYS = 14
TEMPORARY_MAX_DAYS = 90


def unit_choices(unit: str | None) -> list[str]:
    """The units a value held in `unit` may be entered in, canonical first (mmol/L, mg/dL);
    empty for a plain number (a count, hours, days)."""
    for spec in SPECS.values():
        if unit in {u.value for u in spec.factors}:
            return [u.value for u in spec.factors]
    return []


def _shown(value: Any) -> str:
    if value is None:
        return "off"
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def changed_params(entry: Mapping[str, Mapping[str, Any]],
                   typed: Mapping[str, tuple[Any, str | None]]) -> dict[str, Any]:
    """The parameters the form changed, each as {"value", "unit"}: a value left as it was is
    not sent again (re-sending 3.0 mmol/L would move a 54 mg/dL limit to 54.05)."""
    out: dict[str, Any] = {}
    for name, (value, unit) in typed.items():
        before = entry.get(name, {})
        if isinstance(value, bool):
            if value != before.get("value"):
                out[name] = {"value": value, "unit": None}
        elif str(value).strip() != _shown(before.get("value")) or unit != before.get("unit"):
            out[name] = {"value": str(value).strip(), "unit": unit}
    return out


def _table(thresholds: list[Threshold]) -> None:
    zone = session.settings().zone
    rows = [{"Rule": t.rule_id, "Metric": rule_metric(t.rule_id) or "—",
             "Severity": (t.severity or "").upper(),
             "Default": t.default_shown or "—",
             "Individual": (t.override_shown or t.shown) if t.individual else "—",
             "Until": until_text(t.until, zone) or ("permanent" if t.individual else ""),
             "Reason": t.reason or "", "Set by": t.set_by_name or "",
             "Set": format_local(t.set_at, zone) if t.set_at else ""}
            for t in thresholds if t.applies]
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                     key="thresholds_table")
    else:
        st.info("No rules apply to this patient yet: rules follow the conditions recorded.")


def _inputs(current: Threshold) -> dict[str, tuple[Any, str | None]]:
    """One input per parameter, with a unit picker where the value has a unit."""
    typed: dict[str, tuple[Any, str | None]] = {}
    rule = current.rule_id
    for name, shown in current.entry.items():
        value = shown.get("value")
        unit: str | None = shown.get("unit")
        label = name.replace("_", " ")
        key = f"threshold_{rule}_{name}"
        if isinstance(value, bool):
            typed[name] = (st.checkbox(label, value=value, key=key), None)
            continue
        choices = unit_choices(unit)
        left, right = st.columns([3, 1])
        text = left.text_input(label, value=_shown(value), key=key,
                               help="A number, or 'off' to switch this limit off.")
        if len(choices) > 1:
            index = choices.index(unit) if unit in choices else 0
            picked: str = right.selectbox("Unit", choices, index=index,
                                          key=f"threshold_unit_{rule}_{name}")
            typed[name] = (text, picked)
        else:
            if unit:
                right.markdown(f"<br>{escape_markdown(unit)}", unsafe_allow_html=True)
            typed[name] = (text, unit)
    return typed


def temporary_thresholds(thresholds: list[Threshold]) -> list[str]:
    """'spo2-scale1-amber at or below 90 % until 17 Dec' for each temporary one in force."""
    zone = session.settings().zone
    return [f"{t.rule_id} {t.override_shown or t.shown} {until_text(t.until, zone)}"
            for t in thresholds if t.until is not None and t.applies]


def _until(rule: str) -> date | None:
    """The last day of a temporary threshold, or None for a permanent one."""
    if not st.checkbox("Temporary (reverts by itself)", key=f"threshold_temporary_{rule}"):
        return None
    today = clock.today(session.settings().zone)
    return st.date_input("In force through", value=today + timedelta(days=TEMPORARY_DAYS),
                         min_value=today, max_value=today + timedelta(days=TEMPORARY_MAX_DAYS),
                         key=f"threshold_until_{rule}", format="DD/MM/YYYY")


def _save(patient: Patient, current: Threshold, typed: Mapping[str, tuple[Any, str | None]],
          reason: str, until: date | None = None) -> None:
    params = changed_params(current.entry, typed)
    if not params:
        st.error("Change at least one value before saving.")
        return
    if len(reason.strip()) < 3:
        st.error("Give the clinical reason for this threshold.")
        return
    rule = current.rule_id
    ends = f" until {until.day} {until:%b}" if until else ""
    save_change(lambda: session.api().set_threshold(patient.id, rule, params, reason.strip(),
                                                    until),
                f"Threshold for {rule} saved{ends}.")


def threshold_section(patient: Patient, thresholds: list[Threshold]) -> None:
    """The rules that apply; for the clinical team, the form to set an individual one."""
    _table(thresholds)
    for line in temporary_thresholds(thresholds):
        st.info(f"Temporary threshold: {escape_markdown(line)}")
    if not can_edit():
        st.caption("Only the patient's nurse or matron can change thresholds.")
        return
    by_rule = {t.rule_id: t for t in thresholds if t.applies}
    st.markdown("**Set an individual threshold**")
    rule = st.selectbox("Rule", list(by_rule), index=None, key="threshold_rule",
                        placeholder="Choose a rule…")
    if rule is None:
        return
    current = by_rule[rule]
    st.caption(f"Default: {current.default_shown or '—'}"
               + (f" · individual now: {current.override_shown or current.shown} "
                  f"({escape_markdown(current.reason or '')})" if current.individual else ""))
    typed = _inputs(current)
    until = _until(rule)
    reason = st.text_input("Clinical reason (required)", key=f"threshold_reason_{rule}")
    if st.button("Save threshold", key="threshold_save", type="primary"):
        _save(patient, current, typed, reason, until)
