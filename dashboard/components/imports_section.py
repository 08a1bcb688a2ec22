"""CSV imports (outcomes page): risk tiers from the risk-stratification tool, and hospital
admissions and A&E attendances; good rows are kept, refused rows are listed with the reason."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from dashboard.client import ApiError, session
from dashboard.client.care import ImportResult
from dashboard.components.text import escape_markdown

RISK_HEADER = "nhs_number,score,tier,date"
ADMISSIONS_HEADER = "nhs_number,kind,started_on,discharged_on,hospital,reason"


def result_text(result: ImportResult) -> str:
    """'Imported 2 of 3 rows; 1 already present; 0 refused.'"""
    return (f"Imported {result.imported} of {result.rows} rows; {result.unchanged} already "
            f"present; {len(result.errors)} refused.")


def import_form(key: str, title: str, header: str,
                send: Callable[[str], ImportResult]) -> None:
    """A CSV import: a file or pasted rows, the result, and the refused rows with reasons."""
    st.markdown(f"**{title}** — header `{header}`")
    upload = st.file_uploader("CSV file", type=["csv"], key=f"{key}_file")
    pasted = st.text_area("…or paste the rows", key=f"{key}_text", placeholder=header)
    if not st.button("Import", key=f"{key}_go"):
        return
    text = upload.getvalue().decode("utf-8-sig") if upload is not None else pasted
    if not text.strip():
        st.error("Choose a CSV file or paste its rows first.")
        return
    try:
        with session.handling_errors(soft=True):
            result = send(text)
    except ApiError as err:
        st.error(escape_markdown(err.message))
        return
    session.clear_reads()
    (st.warning if result.errors else st.success)(result_text(result))
    if result.errors:
        st.dataframe(pd.DataFrame([{"Row": e.row, "Problem": e.message, "Code": e.code}
                                   for e in result.errors]),
                     hide_index=True, width="stretch", key=f"{key}_errors")


def imports_section() -> None:
    """Both imports side by side."""
    left, right = st.columns(2)
    with left:
        import_form("risk_import", "Risk tiers", RISK_HEADER,
                     lambda text: session.api().import_risk_tiers(text))
    with right:
        import_form("admissions_import", "Admissions and A&E attendances", ADMISSIONS_HEADER,
                     lambda text: session.api().import_admissions(text))
