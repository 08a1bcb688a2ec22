"""`telehub seed --demo`: a demo trust (teams, staff, patients, devices) and its caseload file.

Deterministic from a seed: the same seed gives the same patients, conditions,
scenarios, baselines and devices, so the simulators and the hub agree. Idempotent:
a second run finds the trust already there and changes nothing. Staff passwords
are random and written once to `<data_dir>/demo/signins.json` (mode 0600).
"""

from __future__ import annotations

import json
import logging
import os
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
import typer
from psycopg.types.json import Jsonb

from telehub import registry
from telehub.caseload import Caseload, DeviceSpec, PatientSpec, dump_caseload
from telehub.metrics import Unit
from telehub.nhs import synthetic_nhs_numbers
from telehub.passwords import generate_secret

logger = logging.getLogger(__name__)

DEMO_SEED = 2026
PATIENT_COUNT = 60
TEAMS = (("north-leeds", "North Leeds Neighbourhood Team"),
         ("south-leeds", "South Leeds Neighbourhood Team"))
# (username, display name, role, team index or None)
STAFF = (
    ("demo.admin", "Demo Administrator", "admin", None),
    ("matron.north", "Ruth Calder (Community Matron)", "matron", 0),
    ("matron.south", "Imran Siddiqui (Community Matron)", "matron", 1),
    ("nurse.north", "Grace Okafor (District Nurse)", "nurse", 0),
    ("nurse.south", "Tom Hargreaves (District Nurse)", "nurse", 1),
    ("responder", "Leeds Telecare Response Centre", "responder", None),
    ("manager", "Service Manager", "manager", None),
)
# Conditions of the 60 demo patients: mostly single long-term conditions, some multimorbidity.
CONDITION_MIX: tuple[tuple[tuple[str, ...], int], ...] = (
    (("heart-failure",), 16),
    (("copd",), 16),
    (("type2-diabetes",), 10),
    (("type1-diabetes",), 4),
    (("copd", "heart-failure"), 6),
    (("heart-failure", "type2-diabetes"), 5),
    (("copd", "type2-diabetes"), 3),
)
# Scenario -> (how many patients, the condition it needs).
SCENARIO_MIX: tuple[tuple[str, int, str | None], ...] = (
    ("hf-decompensation", 4, "heart-failure"),
    ("copd-exacerbation", 4, "copd"),
    ("hypo-episodes", 3, "diabetes"),
    ("hyperglycaemia", 3, "diabetes"),
    ("nonadherent", 3, None),
    ("device-offline", 2, None),
    ("faulty-device", 2, None),
)
# When each scenario starts, in days before the demo starts. The demo sends 30 days of
# history within seconds, then runs the last hours at 1440×: scenarios under way show
# amber alerts at once (late readings are reviewed, not treated as emergencies) and
# red ones as soon as recent readings arrive. The offline devices stay off for a day
# or so of the live demo, then send what they kept as one batch.
SCENARIO_START_DAYS = {
    "hf-decompensation": (-3.5, -3.0), "copd-exacerbation": (-3.0, -2.5),
    "hypo-episodes": (-2.5, -2.0), "hyperglycaemia": (-3.0, -2.5),
    "nonadherent": (-4.0, -3.5), "device-offline": (-1.2, -1.0), "faulty-device": (-30.0, -30.0),
}
GIVEN_NAMES = ("Margaret", "John", "Patricia", "David", "Barbara", "Peter", "Susan", "Michael",
               "Jean", "Brian", "Eileen", "Alan", "Doreen", "Keith", "Sheila", "Derek",
               "Maureen", "Colin", "Joan", "Trevor", "Pauline", "Graham", "Irene", "Dennis")
FAMILY_NAMES = ("Ashworth", "Brierley", "Clegg", "Dewhurst", "Earnshaw", "Fothergill",
                "Greenwood", "Holroyd", "Ingham", "Jowett", "Kershaw", "Lumb", "Mitchell",
                "Normanton", "Oldroyd", "Pickles", "Quarmby", "Rhodes", "Sutcliffe",
                "Thackray", "Uttley", "Varley", "Whiteley", "Yeadon")
INSERT_THRESHOLD = (
    "INSERT INTO thresholds (patient_id, rule_id, params, reason, set_by, set_by_name) "
    "VALUES (%s, %s, %s, %s, %s, %s)"
)
SPO2_SCALE_RULE = "spo2-scale"   # individual threshold putting a patient on NEWS2 scale 2
SCALE2_REASON = ("Hypercapnic respiratory failure on home oxygen: target SpO2 88–92 % "
                 "(NEWS2 scale 2).")


@dataclass(frozen=True)
class DemoPatient:
    """One planned demo patient: identity for the database, simulation for the caseload."""

    index: int
    nhs_number: str
    given_name: str
    family_name: str
    birth_date: date
    team: int
    conditions: tuple[str, ...]
    home_oxygen: bool
    spo2_scale: int
    simulation: PatientSpec   # key is a placeholder until the database assigns the display id


def plan_demo(seed: int = DEMO_SEED, count: int = PATIENT_COUNT) -> list[DemoPatient]:
    """The demo patients for `seed` (pure and deterministic)."""
    rng = random.Random(seed)
    conditions = [c for c, n in CONDITION_MIX for _ in range(n)]
    conditions = (conditions * (count // len(conditions) + 1))[:count]
    rng.shuffle(conditions)
    scenarios = _assign_scenarios(rng, conditions)
    numbers = synthetic_nhs_numbers(start=rng.randrange(0, 900_000))
    patients = []
    for i, (conds, scenario) in enumerate(zip(conditions, scenarios, strict=True)):
        home_oxygen = "copd" in conds and scenario != "copd-exacerbation" and rng.random() < 0.3
        scale = 2 if home_oxygen and rng.random() < 0.7 else 1
        patients.append(DemoPatient(
            index=i, nhs_number=next(numbers),
            given_name=rng.choice(GIVEN_NAMES), family_name=rng.choice(FAMILY_NAMES),
            birth_date=date(2026, 1, 1) - timedelta(days=rng.randint(58 * 365, 92 * 365)),
            team=i % len(TEAMS), conditions=conds, home_oxygen=home_oxygen, spo2_scale=scale,
            simulation=_simulation(rng, i, conds, scenario, scale),
        ))
    return patients


def _assign_scenarios(rng: random.Random, conditions: list[tuple[str, ...]]) -> list[str]:
    scenarios = ["stable"] * len(conditions)
    order = list(range(len(conditions)))
    rng.shuffle(order)
    for scenario, wanted, needs in SCENARIO_MIX:
        for i in order:
            if wanted == 0:
                break
            if scenarios[i] == "stable" and (needs is None or any(needs in c
                                                                  for c in conditions[i])):
                scenarios[i] = scenario
                wanted -= 1
    return scenarios


def _simulation(rng: random.Random, index: int, conditions: tuple[str, ...], scenario: str,
                spo2_scale: int) -> PatientSpec:
    schedule = registry.default_care_plan(conditions)
    baseline: dict[str, float] = {"pulse": float(rng.randint(62, 78))}
    if "weight" in schedule:
        baseline["weight"] = round(rng.uniform(58.0, 112.0), 1)
    if "spo2" in schedule:
        baseline["spo2"] = _spo2_baseline(rng, scenario, spo2_scale)
    if "glucose" in schedule:
        baseline["glucose"] = round(rng.uniform(6.0, 8.5), 1)
    devices = []
    for metric, kind, prefix in (("weight", "scale", "sc"), ("spo2", "oximeter", "ox"),
                                 ("glucose", "glucometer", "gm")):
        if metric in schedule:
            devices.append(DeviceSpec(f"{prefix}-{index + 1:04d}", kind,
                                      _device_unit(rng, kind)))
    low, high = SCENARIO_START_DAYS.get(scenario, (0.0, 0.0))
    return PatientSpec(
        key=str(index), conditions=conditions, scenario=scenario, devices=tuple(devices),
        baseline=baseline, schedule=schedule,
        scenario_start_days=round(rng.uniform(low, high), 2),
        adherence=round(rng.uniform(0.9, 0.99), 2),
    )


def _spo2_baseline(rng: random.Random, scenario: str, spo2_scale: int) -> float:
    """Inside the target range, so that only a scenario makes SpO2 alert."""
    if spo2_scale == 2:
        return float(rng.randint(89, 91))   # scale 2 target 88–92 %
    if scenario == "copd-exacerbation":
        return 95.0                         # a 4–5 point fall reaches NEWS2 red (≤ 91 %)
    return float(rng.randint(97, 98))


def _device_unit(rng: random.Random, kind: str) -> Unit:
    """Most UK scales show kg; some lb or stones. Some glucose meters read mg/dL."""
    roll = rng.random()
    if kind == "scale":
        return Unit.LB if roll < 0.12 else Unit.STONE if roll < 0.2 else Unit.KG
    if kind == "glucometer":
        return Unit.MG_DL if roll < 0.2 else Unit.MMOL_L
    return Unit.PERCENT


def demo_dir(data_dir: Path) -> Path:
    """Where the demo keeps its sign-ins, caseload and simulator state."""
    return data_dir / "demo"


def seed_demo(conn: psycopg.Connection, data_dir: Path, seed: int = DEMO_SEED) -> bool:
    """Seed the demo trust in the caller's transaction; False when it was already there."""
    plan = plan_demo(seed)
    target = demo_dir(data_dir)
    if _already_seeded(conn):
        if not (target / "caseload.toml").exists():
            _write_caseload(conn, plan, seed, target)
        return False
    team_ids = [registry.add_team(conn, code, name) for code, name in TEAMS]
    signins, staff_ids = _add_staff(conn, team_ids)
    for p in plan:
        _add_patient(conn, p, team_ids, staff_ids)
    _write_caseload(conn, plan, seed, target)
    _write_signins(target / "signins.json", signins)
    logger.info("seeded %d teams, %d staff and %d patients", len(team_ids), len(signins),
                len(plan))
    return True


def _already_seeded(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT count(*) AS n FROM teams WHERE code = ANY(%s)",
                       ([code for code, _ in TEAMS],)).fetchone()
    return bool(row and _first(row))


def _add_staff(conn: psycopg.Connection, team_ids: list[int]
               ) -> tuple[list[dict[str, str]], dict[str, int]]:
    signins, ids = [], {}
    for username, display, role, team in STAFF:
        password = generate_secret(12)
        ids[username] = registry.add_staff(
            conn, username=username, display_name=display, role=role,
            team=None if team is None else team_ids[team], password=password)
        signins.append({"username": username, "password": password, "role": role,
                        "team": "" if team is None else TEAMS[team][0]})
    return signins, ids


def _add_patient(conn: psycopg.Connection, p: DemoPatient, team_ids: list[int],
                 staff_ids: dict[str, int]) -> None:
    side = "north" if p.team == 0 else "south"
    # The matron holds the complex caseload (multimorbidity), the district nurse the rest.
    nurse = f"matron.{side}" if len(p.conditions) > 1 else f"nurse.{side}"
    pid = registry.add_patient(
        conn, nhs_number=p.nhs_number, given_name=p.given_name, family_name=p.family_name,
        birth_date=p.birth_date, team=team_ids[p.team], conditions=p.conditions,
        care_plan=dict(p.simulation.schedule), named_nurse_id=staff_ids[nurse],
    )
    if p.home_oxygen:
        conn.execute("UPDATE patients SET on_home_oxygen = true WHERE id = %s", (pid,))
    if p.spo2_scale == 2:
        conn.execute(INSERT_THRESHOLD, (pid, SPO2_SCALE_RULE, Jsonb({"scale": 2}), SCALE2_REASON,
                                        staff_ids[f"matron.{side}"], f"matron.{side}"))
    for device in p.simulation.devices:
        registry.add_device(conn, device_id=device.device_id, kind=device.kind, patient=pid,
                            serial=f"SIM-{device.device_id.upper()}")


def _write_caseload(conn: psycopg.Connection, plan: list[DemoPatient], seed: int,
                    target: Path) -> None:
    rows = conn.execute("SELECT nhs_number, display_id FROM patients WHERE nhs_number = ANY(%s)",
                        ([p.nhs_number for p in plan],)).fetchall()
    display = {str(_field(r, "nhs_number")): str(_field(r, "display_id")) for r in rows}
    patients = tuple(_with_key(p.simulation, display[p.nhs_number]) for p in plan)
    dump_caseload(Caseload(seed=seed, patients=patients), target / "caseload.toml")


def _with_key(spec: PatientSpec, key: str) -> PatientSpec:
    from dataclasses import replace

    return replace(spec, key=key)


def _write_signins(path: Path, signins: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(signins, out, indent=2)
    os.chmod(path, 0o600)  # also when the file already existed with wider permissions


def _field(row: Any, name: str) -> Any:
    return row[name]


def _first(row: Any) -> Any:
    return row[0] if isinstance(row, tuple | list) else next(iter(row.values()))


def register(app: typer.Typer) -> None:
    """Add `telehub seed` to the CLI."""

    @app.command()
    def seed(demo: bool = typer.Option(False, "--demo", help="Seed the demo trust."),
             seed_value: int = typer.Option(DEMO_SEED, "--seed",
                                            help="Random seed of the demo caseload.")) -> None:
        """Register the demo trust: teams, staff, patients, devices and the simulators' caseload."""
        from telehub.config import get_settings
        from telehub.db import connect
        from telehub.errors import TelehubError

        if not demo:
            typer.secho("error: say what to seed: --demo", err=True, fg=typer.colors.RED)
            raise typer.Exit(2)
        settings = get_settings()
        try:
            with connect(settings.require_database_url()) as conn:
                created = seed_demo(conn, settings.data_dir, seed_value)
        except TelehubError as err:
            typer.secho(f"error: {err}", err=True, fg=typer.colors.RED)
            raise typer.Exit(1) from err
        where = demo_dir(settings.data_dir)
        if created:
            typer.echo(f"Demo trust seeded: {len(TEAMS)} teams, {len(STAFF)} staff, "
                       f"{PATIENT_COUNT} patients.\n  caseload: {where / 'caseload.toml'}\n"
                       f"  sign-ins: {where / 'signins.json'}")
        else:
            typer.echo("Demo trust already seeded; nothing changed.")
