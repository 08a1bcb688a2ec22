"""Synthetic teams, patients and devices for the benchmarks, registered by COPY."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import psycopg
from psycopg.types.json import Jsonb

from bench.databases import Row
from telehub.care.registration import default_care_plan
from telehub.domain.nhs_number import synthetic_nhs_numbers


@dataclass(frozen=True)
class BenchPatient:
    """One synthetic patient and the ids of its devices (0 when it has none of that kind)."""

    id: int
    team_id: int
    team_code: str
    diabetic: bool
    oximeter_id: int
    oximeter: str        # the device id it publishes under
    scale_id: int
    glucometer_id: int


def register_population(conn: psycopg.Connection[Row], *, patients: int,
                        team_size: int, prefix: str = "bench") -> list[BenchPatient]:
    """Teams of `team_size`, `patients` patients each with an oximeter and a scale, and a
    glucometer for every fourth (diabetic) one; returns them in id order."""
    teams = math.ceil(patients / team_size)
    codes = [f"{prefix}-team-{t:03d}" for t in range(teams)]
    with conn.cursor().copy("COPY teams (code, name) FROM STDIN") as copy:
        for code in codes:
            copy.write_row((code, code))
    team_ids = {r["code"]: int(r["id"]) for r in conn.execute(
        "SELECT code, id FROM teams WHERE code = ANY(%s)", (codes,)).fetchall()}
    numbers = synthetic_nhs_numbers()
    with conn.cursor().copy("COPY patients (nhs_number, given_name, family_name, birth_date, "
                            "team_id, conditions, care_plan) FROM STDIN") as copy:
        for i in range(patients):
            conditions = ["copd", "heart-failure"] + (["type2-diabetes"] if i % 4 == 0 else [])
            copy.write_row((next(numbers), "Bench", f"Patient{i}", date(1940 + i % 40, 1, 1),
                            team_ids[codes[i // team_size]], conditions,
                            Jsonb(default_care_plan(conditions))))
    rows = conn.execute("SELECT id FROM patients WHERE team_id = ANY(%s) ORDER BY id",
                        (list(team_ids.values()),)).fetchall()
    patient_ids = [int(r["id"]) for r in rows]
    with conn.cursor().copy("COPY devices (device_id, kind, patient_id) FROM STDIN") as copy:
        for i, pid in enumerate(patient_ids):
            copy.write_row((f"{prefix}-ox-{i:05d}", "oximeter", pid))
            copy.write_row((f"{prefix}-sc-{i:05d}", "scale", pid))
            if i % 4 == 0:
                copy.write_row((f"{prefix}-gl-{i:05d}", "glucometer", pid))
    devices = {r["device_id"]: int(r["id"]) for r in conn.execute(
        "SELECT device_id, id FROM devices WHERE device_id LIKE %s", (f"{prefix}-%",)).fetchall()}
    return [
        BenchPatient(
            id=pid, team_id=team_ids[codes[i // team_size]], team_code=codes[i // team_size],
            diabetic=i % 4 == 0, oximeter_id=devices[f"{prefix}-ox-{i:05d}"],
            oximeter=f"{prefix}-ox-{i:05d}", scale_id=devices[f"{prefix}-sc-{i:05d}"],
            glucometer_id=devices.get(f"{prefix}-gl-{i:05d}", 0),
        )
        for i, pid in enumerate(patient_ids)
    ]

