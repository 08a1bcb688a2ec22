"""Migration 0005 on a database that already has outbox rows: each event keeps its history."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from alerts import deliveries
from alerts.deliveries import MQTT, WEBHOOK, Lane
from telehub.db.migrate import migrate
from telehub.db.pool import connect

HOOK_A, HOOK_B = "https://telecare.example/a", "https://telecare.example/b"
_OLD_ROW = """
INSERT INTO outbox (alert_id, channel, destination, payload, attempts, delivered_at, last_error)
VALUES (%s, %s, %s, %s, %s, CASE WHEN %s THEN now() END, %s) RETURNING id
"""


def _alert(conn: psycopg.Connection) -> int:
    team = conn.execute("INSERT INTO teams (code, name) VALUES ('north', 'North') "
                        "ON CONFLICT (code) DO UPDATE SET name = excluded.name RETURNING id"
                        ).fetchone()["id"]
    patient = conn.execute(
        "INSERT INTO patients (nhs_number, given_name, family_name, birth_date, team_id) "
        "VALUES ('9990000026', 'Ann', 'Example', '1940-02-03', %s) "
        "ON CONFLICT (nhs_number) DO UPDATE SET given_name = excluded.given_name "
        "RETURNING id", (team,)).fetchone()["id"]
    return int(conn.execute(
        "INSERT INTO alerts (patient_id, team_id, rule_id, severity, message, first_breach_at, "
        "last_breach_at) VALUES (%s, %s, 'spo2-low', 'red', 'SpO2 low', now(), now()) "
        "RETURNING id", (patient, team)).fetchone()["id"])


def _payload(alert_id: int, event: str) -> Jsonb:
    return Jsonb({"alert_id": alert_id, "event": event, "team": "north", "severity": "red"})


def _old(conn: psycopg.Connection, alert_id: int, channel: str, destination: str,
         payload: Jsonb, attempts: int, delivered: bool, error: str | None = None) -> int:
    return int(conn.execute(_OLD_ROW, (alert_id, channel, destination, payload, attempts,
                                       delivered, error)).fetchone()["id"])


def test_old_outbox_rows_become_events_with_a_delivery_per_channel(empty_db_url: str) -> None:
    with connect(empty_db_url) as conn:
        migrate(conn, through=4)
        alert = _alert(conn)
        topic = "telehub/v1/alerts/north/red"
        opened = _old(conn, alert, "mqtt", topic, _payload(alert, "opened"), 1, True)
        _old(conn, alert, "webhook", HOOK_A, _payload(alert, "opened"), 1, True)
        _old(conn, alert, "webhook", HOOK_B, _payload(alert, "opened"), 3, False, "HTTP 500")
        escalated = _old(conn, alert, "mqtt", topic, _payload(alert, "escalated"), 2, False,
                         "not connected to the broker")
        orphan = _old(conn, alert, "webhook", HOOK_A, _payload(alert, "repeated"), 0, False)

        done = migrate(conn)
        assert done[0].startswith("0005_notification_deliveries")

        events = {r["id"]: r for r in conn.execute("SELECT * FROM outbox ORDER BY id")}
        assert set(events) == {opened, escalated, orphan}
        assert {(e["team"], e["severity"]) for e in events.values()} == {("north", "red")}
        assert not {"channel", "destination", "delivered_at"} & set(events[opened])
        assert events[opened]["planned_at"] is not None
        assert events[orphan]["planned_at"] is not None
        assert events[escalated]["planned_at"] is None   # never had its webhooks queued
        found = _deliveries(conn)
        assert found == {
            (opened, MQTT, None): (1, True, None),
            (opened, WEBHOOK, HOOK_A): (1, True, None),
            (opened, WEBHOOK, HOOK_B): (3, False, "HTTP 500"),
            (escalated, MQTT, None): (2, False, "not connected to the broker"),
            (orphan, WEBHOOK, HOOK_A): (0, False, None),
        }

        # The notifier plans the undelivered event: its webhooks are added, its MQTT kept.
        conn.autocommit = False
        assert deliveries.plan(conn, [Lane(MQTT), Lane(WEBHOOK, HOOK_A)], 100) == 1
        conn.commit()
        after = _deliveries(conn)
        assert after[(escalated, MQTT, None)] == (2, False, "not connected to the broker")
        assert after[(escalated, WEBHOOK, HOOK_A)] == (0, False, None)
        assert len(after) == len(found) + 1


def _deliveries(conn: psycopg.Connection) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    return {(r["outbox_id"], r["channel"], r["destination"]):
            (r["attempts"], r["delivered_at"] is not None, r["last_error"])
            for r in conn.execute("SELECT * FROM outbox_deliveries")}
