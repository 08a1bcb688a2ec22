"""The demo end to end: seed, a real hub, the simulators. Alerts come exactly from the scenarios:
a red telecare-fall alert for exactly the patients whose scenario is `fall`, pendant alarms only
from the patients who press their pendant, and nothing amber or red for the stable ones."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from alerts.catalogue import load_catalogue
from telehub.demo.embedded import stop_process
from telehub.domain.roster import load_caseload
from tests.clock_anchors import ANCHORS, anchor_id

pytest.importorskip("ingest.service")
pytest.importorskip("alerts.engine")

# Scenarios whose signature the hub must turn into an amber or red alert.
ALERTING = ("hf-decompensation", "copd-exacerbation", "hypo-episodes", "hyperglycaemia",
            "nonadherent")


def _telehub(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    done = subprocess.run([sys.executable, "-m", "telehub", *args], env=env, check=True,
                          capture_output=True, text=True, timeout=timeout)
    return done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("anchor", ANCHORS, ids=anchor_id)
def test_demo_alerts_come_from_the_scenarios_and_stable_patients_stay_quiet(
        db_url: str, mqtt_url: str, topic_root: str, tmp_path: Path, anchor: datetime) -> None:
    offset = (anchor - datetime.now(UTC)).total_seconds()
    env = {**os.environ, "TELEHUB_CLOCK_OFFSET_S": f"{offset:.3f}",
           "TELEHUB_DATABASE_URL": db_url, "TELEHUB_MQTT_URL": mqtt_url,
           "TELEHUB_TOPIC_ROOT": topic_root, "TELEHUB_DATA_DIR": str(tmp_path),
           "TELEHUB_INGEST__CLIENT_ID": f"hub-{uuid.uuid4().hex[:8]}",
           "TELEHUB_INGEST__METRICS_PORT": "0", "TELEHUB_ALERTS__SCHEDULER_INTERVAL_S": "2",
           "TELEHUB_LOG_LEVEL": "WARNING"}
    _telehub(env, "seed", "--demo")
    hub = subprocess.Popen([sys.executable, "-m", "telehub", "hub"], env=env,
                           stdin=subprocess.DEVNULL)
    try:
        time.sleep(3)
        started = time.monotonic()
        out = _telehub(env, "simulate", "--demo", "--once")
        assert "Recorded" in out
        assert time.monotonic() - started < 120      # red and amber within two minutes
        time.sleep(6)                                 # the hub's last batch, a scheduler run
    finally:
        stop_process(hub)
    caseload = load_caseload(tmp_path / "demo" / "caseload.toml")
    scenario = {p.key: p.scenario for p in caseload.patients}
    pressers = {p.key for p in caseload.patients if p.pendant_every_days > 0}
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT p.display_id, a.severity::text, a.rule_id || ': ' || a.message FROM alerts a "
            "JOIN patients p ON p.id = a.patient_id WHERE a.status <> 'resolved'").fetchall()
        red_rules_fired = conn.execute(
            "SELECT a.severity::text, a.late, a.values->>'rule' FROM alerts a "
            "WHERE a.status <> 'resolved' AND a.rule_id NOT LIKE 'telecare-%%'").fetchall()
        stored = conn.execute("SELECT count(*), max(time) FROM readings").fetchone()
        telecare = conn.execute(
            "SELECT p.display_id, e.event, a.rule_id, a.severity::text FROM telecare_events e "
            "JOIN patients p ON p.id = e.patient_id LEFT JOIN alerts a ON a.id = e.alert_id"
        ).fetchall()
        rejected = conn.execute("SELECT DISTINCT d.patient_id FROM rejected_messages r "
                                "JOIN devices d ON d.device_id = r.device_id").fetchall()
    assert stored and stored[0] > 3000
    # Every process ran on the shared service clock: the newest reading is of the anchor's day.
    assert anchor - timedelta(hours=12) < stored[1] <= anchor + timedelta(minutes=10), stored[1]
    # A telecare event is stored and raises its red alert, linked to it.
    falls = {key for key, event, _rule, _severity in telecare if event == "fall"}
    assert falls == {key for key, name in scenario.items() if name == "fall"} and falls
    assert all(rule == f"telecare-{event}" and severity == "red"
               for _key, event, rule, severity in telecare)
    assert {key for key, event, _r, _s in telecare if event == "pendant"} <= pressers
    red_falls = {key for key, severity, rule in rows
                 if rule.startswith("telecare-fall:") and severity == "red"}
    assert red_falls == falls
    alerts: dict[str, set[str]] = defaultdict(set)
    for key, severity, rule in rows:
        if key in pressers and rule.startswith("telecare-pendant:"):
            continue                 # a pendant press is an emergency call, not noise
        if scenario[key] == "fall" and rule.startswith("telecare-fall:"):
            continue
        alerts[key].add(severity)
        alerts[f"{key} rules"].add(rule)
    # A stable patient may see an info alert (a skipped daily weight: "no reading for
    # 2 days"), never an amber or red one.
    noisy = [(key, alerts[f"{key} rules"]) for key, name in scenario.items()
             if name in ("stable", "fall") and alerts.get(key, set()) & {"amber", "red"}]
    assert not noisy, f"stable patients with amber or red alerts: {noisy}"
    for key, name in scenario.items():
        if name in ALERTING:
            assert alerts[key] & {"amber", "red"}, f"{key} ({name}) raised nothing"
    # A red rule fires: a red alert, or, where the reading reached the hub late (before the
    # morning, the replay's newest readings are last evening's), a review capped at amber.
    red = {rule.id for rule in load_catalogue().rules if rule.severity == "red"}
    assert any(severity == "red" or (late and rule in red)
               for severity, late, rule in red_rules_fired), red_rules_fired
    assert len(rejected) == sum(1 for n in scenario.values() if n == "faulty-device")
