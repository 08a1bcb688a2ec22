"""The patient page's thresholds: every rule as it applies, and the form a nurse or matron uses
to set an individual threshold with the clinical reason."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.client import session
from dashboard.client.patients import Patient, Threshold
from dashboard.components.changes import can_edit, save_change
from dashboard.components.charts import rule_metric
from dashboard.components.formatting import params_text
from dashboard.components.times import format_local


def parse_params(text: str) -> dict[str, Any]:
    """Rule parameters typed as a JSON object; ValueError says what is wrong."""
    params = json.loads(text)
    if not isinstance(params, dict):
        raise ValueError("parameters must be a JSON object")
    return params


def _table(thresholds: list[Threshold]) -> None:
    zone = session.settings().zone
    rows = [{"Rule": t.rule_id, "Metric": rule_metric(t.rule_id) or "—",
             "Severity": (t.severity or "").upper(),
             "Default": params_text(t.default or t.params),
             "Individual": params_text(t.override or t.params) if t.individual else "—",
             "Reason": t.reason or "", "Set by": t.set_by_name or "",
             "Set": format_local(t.set_at, zone) if t.set_at else ""}
            for t in thresholds if t.applies]
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                     key="thresholds_table")
    else:
        st.info("No rules apply to this patient yet: rules follow the conditions recorded.")


def _save(patient: Patient, rule: str, params_json: str, reason: str) -> None:
    try:
        params = parse_params(params_json)
    except ValueError as err:
        st.error(f"The parameters are not valid JSON: {err}")
        return
    if len(reason.strip()) < 3:
        st.error("Give the clinical reason for this threshold.")
        return
    save_change(lambda: session.api().set_threshold(patient.id, rule, params, reason.strip()),
                f"Threshold for {rule} saved.")


def threshold_section(patient: Patient, thresholds: list[Threshold]) -> None:
    """The rules that apply; for the clinical team, the form to set an individual one."""
    _table(thresholds)
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
    st.caption(f"Default: {params_text(current.default or current.params)}"
               + (f" · individual now: {params_text(current.override or current.params)} "
                  f"({current.reason})" if current.individual else ""))
    params_json = st.text_area("Parameters (JSON)", value=json.dumps(current.params),
                               key=f"threshold_params_{rule}")
    reason = st.text_input("Clinical reason (required)", key=f"threshold_reason_{rule}")
    if st.button("Save threshold", key="threshold_save", type="primary"):
        _save(patient, rule, params_json, reason)
