"""Before/after outcomes (Outcomes page): rates per 1,000 patient-years in the 12 months before
enrolment against the months since, with their 95 % intervals as error bars, the comparison
cohort and the difference in differences when imported, and a plain warning when the numbers
are too small to mean anything."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard.client import session
from dashboard.client.performance import BeforeAfter, Difference, Group, Measure, Rate
from dashboard.components.imports_section import import_form
from dashboard.components.outcome_charts import NHS_BLUE, NHS_DARK, NHS_WARM

COHORT_HEADER = "nhs_number,index_date,kind,started_on,discharged_on"
_MARGIN = {"l": 10, "r": 10, "t": 10, "b": 10}
_GREY = "#768692"


def _bar(name: str, xs: list[str], rates: list[Rate], color: str, pattern: str = "") -> go.Bar:
    ys = [r.per_1000 for r in rates]
    return go.Bar(
        name=name, x=xs, y=ys, marker_color=color, marker_pattern_shape=pattern,
        error_y={"type": "data", "symmetric": False,
                 "array": [(r.ci_high or 0) - (r.per_1000 or 0) for r in rates],
                 "arrayminus": [(r.per_1000 or 0) - (r.ci_low or 0) for r in rates]},
        customdata=[[r.events, r.patient_years, r.ci_low, r.ci_high] for r in rates],
        hovertemplate="%{x}: %{y:.0f} per 1,000 patient-years (95 % CI %{customdata[2]:.0f}–"
                      "%{customdata[3]:.0f}; %{customdata[0]} in %{customdata[1]:.1f} "
                      "patient-years)<extra></extra>")


def before_after_figure(measures: list[Measure]) -> go.Figure:
    """Per measure, before and after bars for the monitored patients (and the comparison)."""
    xs = [m.label for m in measures]
    bars = [_bar("monitored: 12 months before enrolment", xs,
                 [m.monitored.before for m in measures], _GREY),
            _bar("monitored: since enrolment", xs, [m.monitored.after for m in measures],
                 NHS_BLUE)]
    if all(m.comparison is not None for m in measures):
        bars += [_bar("comparison: before", xs, [m.comparison.before for m in measures
                                                 if m.comparison], NHS_WARM, "/"),
                 _bar("comparison: since", xs, [m.comparison.after for m in measures
                                                if m.comparison], NHS_DARK, "x")]
    fig = go.Figure(bars)
    fig.update_layout(barmode="group", yaxis_title="per 1,000 patient-years",
                      xaxis={"type": "category"}, height=380, margin=_MARGIN,
                      legend={"orientation": "h", "y": -0.25})
    return fig


def _rate_text(r: Rate | Difference | None) -> str:
    if r is None or r.per_1000 is None:
        return "–"
    return f"{r.per_1000:,.0f} ({r.ci_low:,.0f} to {r.ci_high:,.0f})"


def _row(label: str, group: str, g: Group) -> dict[str, object]:
    return {"Measure": label, "Group": group,
            "Before: events": g.before.events, "Before: patient-years": g.before.patient_years,
            "Before: per 1,000 (95 % CI)": _rate_text(g.before),
            "Since: events": g.after.events, "Since: patient-years": g.after.patient_years,
            "Since: per 1,000 (95 % CI)": _rate_text(g.after),
            "Change (95 % CI)": _rate_text(g.change),
            "Too small": "yes" if g.before.too_small or g.after.too_small else ""}


def before_after_table(out: BeforeAfter) -> pd.DataFrame:
    """One row a measure and group, with the difference in differences beside the monitored."""
    rows = []
    for m in out.measures:
        row = _row(m.label, "monitored", m.monitored)
        row["Difference in differences (95 % CI)"] = _rate_text(m.difference_in_differences)
        rows.append(row)
        if m.comparison is not None:
            rows.append(_row(m.label, "comparison", m.comparison))
    return pd.DataFrame(rows)


def before_after_section(team_id: int, can_import: bool) -> None:
    """The before/after figures of the team, their CSV, and the comparison import."""
    st.subheader("Before and since enrolment (patients monitored 6 months or more)")
    out = session.read_or_warn(lambda: session.api().before_after(team_id),
                               "Before/after outcomes could not be loaded")
    if out is None:
        return
    if not out.monitored_patients:
        st.info("No patient of this team has been monitored for 6 months yet, so there is "
                "nothing to compare before and since enrolment.")
    else:
        st.caption(f"{out.monitored_patients} patients monitored 6 months or more; "
                   f"comparison cohort: {out.comparison_members or 'none imported'}; "
                   f"as of {out.as_of:%d %b %Y}.")
        if out.too_small:
            st.warning(f"**These numbers are too small to mean anything.** "
                       f"{out.too_small_rule} Read them as a description of a few people, "
                       "not as evidence that monitoring changed admissions.")
        episodes = [m for m in out.measures if m.measure != "bed_days"]
        beds = [m for m in out.measures if m.measure == "bed_days"]
        left, right = st.columns([2, 1])   # bed days run ten times higher: an axis of their own
        with left:
            st.plotly_chart(before_after_figure(episodes), width="stretch",
                            key="before_after_chart")
        with right:
            st.plotly_chart(before_after_figure(beds), width="stretch",
                            key="before_after_beds")
        st.dataframe(before_after_table(out), hide_index=True, width="stretch",
                     key="before_after_table")
        st.download_button("Download the figures (CSV)",
                           session.api().before_after_csv(team_id),
                           file_name=f"before-after-{team_id}-{out.as_of.isoformat()}.csv",
                           mime="text/csv", key="before_after_csv")
    with st.expander("How these figures are counted"):
        for name, text in out.definitions.items():
            st.markdown(f"- **{name.replace('_', ' ')}**: {text}")
    if can_import:
        with st.expander("Import a comparison cohort"):
            import_form("comparison_import", "Comparison cohort", COHORT_HEADER,
                        lambda text: session.api().import_comparison(team_id, text))
