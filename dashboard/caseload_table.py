"""The caseload as a table: one row per patient, worst first, with words beside every colour."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pandas as pd

from dashboard.formatting import (
    Rag,
    age_on,
    conditions_text,
    format_battery,
    format_online,
    rag_chip,
)
from dashboard.models import CaseloadRow
from dashboard.times import time_ago

# The metrics the caseload shows a latest value and a sparkline for.
CASELOAD_METRICS = ("weight", "spo2", "glucose")
_TRIAGE_RAG = {"red": Rag.RED, "amber": Rag.AMBER, "overdue": Rag.AMBER, "ok": Rag.GREEN}
TRIAGE_LABELS = {"red": "RED", "amber": "AMBER", "overdue": "readings overdue", "ok": "GREEN"}


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
    from dashboard.formatting import format_reading

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


def caseload_frame(rows: Sequence[CaseloadRow], now: datetime,
                   birth_dates: Mapping[int, date] | None = None,
                   zone: ZoneInfo | None = None) -> pd.DataFrame:
    """The table the caseload page shows, in the API's triage order."""
    today = now.astimezone(zone).date() if zone else now.date()
    records = []
    for row in rows:
        born = (birth_dates or {}).get(row.patient_id)
        record: dict[str, object] = {
            "Status": status_text(row),
            "Patient": f"{row.name} ({row.display_id})",
            "Age": str(age_on(born, today)) if born else "—",
            "Conditions": conditions_text(row.conditions),
            "Named nurse": row.named_nurse or "—",
        }
        for metric in CASELOAD_METRICS:
            summary = row.latest_of(metric)
            record[metric] = latest_text(row, metric, now)
            record[f"{metric}_trend"] = [p.mean for p in summary.trend] if summary else []
        record["Open alerts"] = alerts_text(row)
        record["Devices"] = devices_text(row, now)
        record["Last reading"] = time_ago(row.last_reading_at, now)
        records.append(record)
    columns = ["Status", "Patient", "Age", "Open alerts",
               *[c for m in CASELOAD_METRICS for c in (m, f"{m}_trend")],
               "Last reading", "Devices", "Conditions", "Named nurse"]
    return pd.DataFrame.from_records(records, columns=columns)
