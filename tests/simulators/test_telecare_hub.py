"""A simulated fall through a real Mosquitto and a real hub: the event is stored once in
`telecare_events` and raises a red `telecare-fall` alert for the patient."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from device_simulators.runner import Simulation, SimulationPlan
from telehub.care import registration as registry
from telehub.config import parse_mqtt_url
from telehub.demo.embedded import stop_process
from telehub.domain.nhs_number import synthetic_nhs_numbers
from telehub.domain.roster import Caseload, DeviceSpec, PatientSpec

pytest.importorskip("ingest.service")
pytest.importorskip("alerts.telecare")


def test_a_simulated_fall_reaches_the_hub_as_a_red_telecare_alert(
        db_url: str, mqtt_url: str, topic_root: str, tmp_path: Path) -> None:
    numbers = synthetic_nhs_numbers(start=4242)
    with psycopg.connect(db_url) as conn:
        registry.add_team(conn, "falls-team", "Falls Team")
        pids = [registry.add_patient(conn, nhs_number=next(numbers), given_name="Test",
                                     family_name=f"Patient{i}", birth_date=date(1940, 5, 1),
                                     team="falls-team", conditions=["copd"]) for i in (1, 2)]
        for pid, n in zip(pids, (1, 2), strict=True):
            registry.add_device(conn, device_id=f"fd-{n}", kind="fall-detector", patient=pid)
            registry.add_device(conn, device_id=f"pd-{n}", kind="pendant", patient=pid)
    env = {**os.environ, "TELEHUB_DATABASE_URL": db_url, "TELEHUB_MQTT_URL": mqtt_url,
           "TELEHUB_TOPIC_ROOT": topic_root, "TELEHUB_DATA_DIR": str(tmp_path),
           "TELEHUB_INGEST__CLIENT_ID": f"hub-{uuid.uuid4().hex[:8]}",
           "TELEHUB_INGEST__METRICS_PORT": "0", "TELEHUB_LOG_LEVEL": "WARNING"}
    hub = subprocess.Popen([sys.executable, "-m", "telehub", "hub"], env=env,
                           stdin=subprocess.DEVNULL)
    try:
        time.sleep(3)
        now = datetime.now(UTC).replace(microsecond=0)
        devices = (DeviceSpec("fd-{}", "fall-detector", None), DeviceSpec("pd-{}", "pendant", None))
        caseload = Caseload(seed=1, patients=tuple(
            PatientSpec(key=f"P{n}", conditions=("copd",), scenario=scenario,
                        devices=tuple(DeviceSpec(d.device_id.format(n), d.kind, None)
                                      for d in devices), scenario_start_days=-0.05)
            for n, scenario in ((1, "fall"), (2, "stable"))))
        plan = SimulationPlan(start=now - timedelta(hours=6), fast_until=now - timedelta(hours=6),
                              anchor=now, speed=86400.0, run_for=0.0)
        report = Simulation(caseload, parse_mqtt_url(mqtt_url), topic_root=topic_root,
                            state_path=tmp_path / "devices.sqlite", plan=plan
                            ).run(threading.Event())
        assert report.events == 1 and report.left_on_disk == 0
        deadline = time.monotonic() + 20
        with psycopg.connect(db_url) as conn:
            while time.monotonic() < deadline:
                rows = conn.execute(
                    "SELECT e.patient_id, e.event, e.time, a.rule_id, a.severity::text "
                    "FROM telecare_events e LEFT JOIN alerts a ON a.id = e.alert_id").fetchall()
                conn.commit()
                if rows and rows[0][3] is not None:
                    break
                time.sleep(0.2)
    finally:
        stop_process(hub)
    assert rows == [(pids[0], "fall", now - timedelta(days=0.05), "telecare-fall", "red")]
