"""Rows tests put straight into the database: readings and alerts as the hub would store them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from telehub.care import registration as registry
from telehub.domain.units import SPECS, Metric

KIND_FOR = {"weight": "scale", "spo2": "oximeter", "pulse": "oximeter", "glucose": "glucometer"}


def device_for(conn: psycopg.Connection, patient_id: int, metric: str) -> int:
    """The patient's device for `metric`, registered on first use."""
    kind = KIND_FOR[metric]
    row = conn.execute("SELECT id FROM devices WHERE patient_id = %s AND kind = %s",
                       (patient_id, kind)).fetchone()
    if row is not None:
        return int(row["id"])
    return registry.add_device(conn, device_id=f"{kind}-{patient_id}", kind=kind,
                               patient=patient_id)


def add_readings(conn: psycopg.Connection, patient_id: int, metric: str,
                 points: list[tuple[datetime, float]]) -> None:
    """Store readings of one metric (canonical units) for a patient."""
    device = device_for(conn, patient_id, metric)
    unit = SPECS[Metric(metric)].canonical.value
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO readings (time, patient_id, device_id, metric, value, unit, raw_value, "
            "raw_unit, reading_key) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [(t, patient_id, device, metric, v, unit, v, unit, t.isoformat())
             for t, v in points])


def add_alert(conn: psycopg.Connection, patient_id: int, rule_id: str, severity: str, *,
              at: datetime, status: str = "open", metric: str | None = None,
              **extra: Any) -> int:
    """An alert as the rules engine raises it, with its 'opened' event."""
    team = conn.execute("SELECT team_id FROM patients WHERE id = %s",
                        (patient_id,)).fetchone()["team_id"]
    cols = {"patient_id": patient_id, "team_id": team, "rule_id": rule_id,
            "severity": severity, "status": status, "message": f"{rule_id} breached",
            "metric": metric, "first_breach_at": at, "last_breach_at": at, "created_at": at,
            "values": Jsonb({"latest": 1}), **extra}
    names = ", ".join(f'"{c}"' for c in cols)
    marks = ", ".join(["%s"] * len(cols))
    alert_id = conn.execute(f"INSERT INTO alerts ({names}) VALUES ({marks}) RETURNING id",
                            list(cols.values())).fetchone()["id"]
    conn.execute("INSERT INTO alert_events (alert_id, at, kind, actor) "
                 "VALUES (%s, %s, 'opened', 'system')", (alert_id, at))
    return int(alert_id)
