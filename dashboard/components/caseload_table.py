"""The caseload as a table: one row per patient, worst first, with words beside every colour."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pandas as pd

from dashboard.client.care import CarePatient
from dashboard.client.patients import CaseloadRow
from dashboard.components.formatting import (
    Rag,
    conditions_text,
    format_battery,
    format_online,
    rag_chip,
)
from dashboard.components.times import is_overdue, time_ago, until_text
from telehub.domain import clock

# The metrics the caseload shows a latest value and a sparkline for.
CASELOAD_METRICS = ("weight", "spo2", "glucose")
_TRIAGE_RAG = {"red": Rag.RED, "amber": Rag.AMBER, "overdue": Rag.AMBER, "ok": Rag.GREEN}
TRIAGE_LABELS = {"red": "RED", "amber": "AMBER", "overdue": "readings overdue", "ok": "GREEN"}
SORTS = {"triage": "Most urgent first", "risk": "Highest risk score first",
         "review": "Care-plan review due soonest"}
NO_TIER = "no tier"


def rag_for_row(row: CaseloadRow) -> Rag:
    """RED/AMBER/GREEN for a caseload row (overdue readings count as amber)."""
    return _TRIAGE_RAG.get(row.triage, Rag.AMBER)


def status_text(row: CaseloadRow) -> str:
    """The chip, plus what makes it so: '🟠 AMBER · overdue: weight'."""
    text = rag_chip(rag_for_row(row))
    if row.triage == "overdue" or (row.overdue_metrics and row.triage != "ok"):
        text += f" · overdue: {', '.join(row.overdue_metrics)}"
    return text


def latest_text(row: CaseloadRow, metric: str, now: datetime) -> str:
    """'94 % · 2 h ago' or '—'."""
    from dashboard.components.formatting import format_reading

    summary = row.latest_of(metric)
    if summary is None:
        return "—"
    return f"{format_reading(metric, summary.value)} · {time_ago(summary.time, now)}"


def devices_text(row: CaseloadRow, now: datetime) -> str:
    """'oximeter online, seen 5 min ago, 🔋 80 %; …' or 'no device'."""
    if not row.devices:
        return "no device"
    return "; ".join(
        f"{d.kind} {format_online(d.online)}, seen {time_ago(d.last_seen_at, now)}, "
        f"{format_battery(d.battery)}" for d in row.devices)


def alerts_text(row: CaseloadRow) -> str:
    """'1 red, 2 amber' or 'none'."""
    counts = row.open_alerts
    parts = [f"{n} {name}" for name, n in (("red", counts.red), ("amber", counts.amber),
                                           ("info", counts.info)) if n]
    return ", ".join(parts) or "none"


def adherence_text(row: CaseloadRow) -> str:
    """'86 %' of the readings the care plan expected over the last 7 days, or 'no plan'."""
    if row.adherence_7d is None:
        return "no plan"
    return f"{round(row.adherence_7d * 100)} %"


def filter_rows(rows: Iterable[CaseloadRow], *, search: str = "",
                conditions: Sequence[str] = (), triage: Sequence[str] = ()) -> list[CaseloadRow]:
    """Rows matching a name/id search, any of `conditions`, and any of `triage` bands."""
    needle = search.strip().lower()
    out = []
    for row in rows:
        if needle and needle not in row.name.lower() and needle not in row.display_id.lower():
            continue
        if conditions and not set(conditions) & set(row.conditions):
            continue
        if triage and row.triage not in triage:
            continue
        out.append(row)
    return out


def risk_text(care: CarePatient | None) -> str:
    """'high (score 72, rising)' or 'no tier'."""
    if care is None or care.risk_tier is None:
        return NO_TIER
    score = f"score {care.risk_score:g}" if care.risk_score is not None else "no score"
    return f"{care.risk_tier} ({score}{', rising' if care.risk_rising else ''})"


def review_flag(care: CarePatient | None, today: date) -> str:
    """'⚠️ OVERDUE since 01 Oct 2026', 'due today', 'due 03 Feb 2027' or 'no date' (`today` is
    the service's local date)."""
    if care is None or care.review_due is None:
        return "no date"
    when = care.review_due.strftime("%d %b %Y")
    if review_overdue(care, today):
        return f"⚠️ OVERDUE since {when}"
    return "due today" if care.review_due == today else f"due {when}"


def review_overdue(care: CarePatient | None, today: date) -> bool:
    """Whether the care-plan review is late on `today` (as the API says, or by its date)."""
    return care is not None and (care.review_overdue or is_overdue(care.review_due, today))


def filter_by_tier(rows: Iterable[CaseloadRow], care: Mapping[int, CarePatient],
                   tiers: Sequence[str]) -> list[CaseloadRow]:
    """Rows whose risk tier is one of `tiers` (NO_TIER matches patients without one)."""
    if not tiers:
        return list(rows)
    def tier(row: CaseloadRow) -> str:
        found = care.get(row.patient_id)
        return found.risk_tier if found is not None and found.risk_tier else NO_TIER
    return [row for row in rows if tier(row) in tiers]


def sort_rows(rows: Sequence[CaseloadRow], care: Mapping[int, CarePatient],
              sort: str) -> list[CaseloadRow]:
    """The API's triage order, or highest risk score first, or soonest review first
    (patients without a score or a date last, triage order among equals)."""
    order = {row.patient_id: i for i, row in enumerate(rows)}
    if sort == "risk":
        def risk_key(row: CaseloadRow) -> tuple[bool, float, int]:
            found = care.get(row.patient_id)
            score = found.risk_score if found is not None else None
            return (score is None, -(score or 0.0), order[row.patient_id])
        return sorted(rows, key=risk_key)
    if sort == "review":
        def review_key(row: CaseloadRow) -> tuple[bool, date, int]:
            found = care.get(row.patient_id)
            due = found.review_due if found is not None else None
            return (due is None, due or date.max, order[row.patient_id])
        return sorted(rows, key=review_key)
    return list(rows)


def temporary_text(row: CaseloadRow, zone: ZoneInfo | None = None) -> str:
    """'spo2-scale1-amber until 17 Dec' for each temporary threshold in force, else ''."""
    where = zone or clock.service_zone()
    return "; ".join(f"{t.rule_id} {until_text(t.until, where)}"
                     for t in row.temporary_thresholds)


def caseload_frame(rows: Sequence[CaseloadRow], now: datetime,
                   zone: ZoneInfo | None = None,
                   care: Mapping[int, CarePatient] | None = None) -> pd.DataFrame:
    """The table the caseload page shows, in the order given."""
    today = clock.service_date(now, zone)
    records = []
    for row in rows:
        found = (care or {}).get(row.patient_id)
        status = status_text(row)
        if review_overdue(found, today):
            status += " · ⚠️ review overdue"
        record: dict[str, object] = {
            "Status": status,
            "Patient": f"{row.name} ({row.display_id})",
            "Age": str(row.age),
            "Conditions": conditions_text(row.conditions),
            "Named nurse": row.named_nurse or "—",
        }
        for metric in CASELOAD_METRICS:
            summary = row.latest_of(metric)
            record[metric] = latest_text(row, metric, now)
            record[f"{metric}_trend"] = [p.mean for p in summary.trend] if summary else []
        record["Open alerts"] = alerts_text(row)
        record["Risk tier"] = risk_text(found)
        record["Care-plan review"] = review_flag(found, today)
        record["Devices"] = devices_text(row, now)
        record["Last reading"] = time_ago(row.last_reading_at, now)
        record["Adherence"] = adherence_text(row)
        record["Thresholds"] = temporary_text(row, zone)
        records.append(record)
    columns = ["Status", "Patient", "Age", "Risk tier", "Open alerts",
               *[c for m in CASELOAD_METRICS for c in (m, f"{m}_trend")],
               "Last reading", "Adherence", "Care-plan review", "Thresholds", "Devices",
               "Conditions", "Named nurse"]
    return pd.DataFrame.from_records(records, columns=columns)
