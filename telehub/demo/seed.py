"""`telehub seed --demo`: a demo trust (teams, staff, patients, devices) and its caseload file,
with the care around each patient: GP, care coordinator, carers, key-safe notes, advance
decisions, consent, care-plan reviews (a few overdue), risk tiers, telecare devices (pendants,
fall detectors, smoke detectors), responder coverage and a few months of hospital episodes with
their post-admission reviews and follow-up tasks. All of it synthetic: invented names, phone
numbers in Ofcom's drama ranges (07700 900xxx, 0113 496 0xxx).

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
from dataclasses import replace
from datetime import date
from pathlib import Path

import psycopg
import typer
from psycopg.types.json import Jsonb

from telehub.care import registration as registry
from telehub.demo.care import add_care, column, first_column
from telehub.demo.caseload import (
    DEMO_SEED,
    PATIENT_COUNT,
    STAFF,
    TEAMS,
    DemoPatient,
    coordinator_of,
    plan_demo,
)
from telehub.domain import clock
from telehub.domain.roster import Caseload, PatientSpec, dump_caseload
from telehub.passwords import generate_secret

logger = logging.getLogger(__name__)


STREETS = ("Moorview Terrace", "Beck Lane", "Hollin Drive", "Quarry Close", "Mill Fold",
           "Chapel Row", "Aireside Walk", "Weaver Court", "Tenter Street", "Kiln Grove")


INSERT_THRESHOLD = (
    "INSERT INTO thresholds (patient_id, rule_id, params, reason, set_by, set_by_name) "
    "VALUES (%s, %s, %s, %s, %s, %s)"
)


SPO2_SCALE_RULE = "spo2-scale"   # individual threshold putting a patient on NEWS2 scale 2


SCALE2_REASON = ("Hypercapnic respiratory failure on home oxygen: target SpO2 88–92 % "
                 "(NEWS2 scale 2).")


def demo_dir(data_dir: Path) -> Path:
    """Where the demo keeps its sign-ins, caseload and simulator state."""
    return data_dir / "demo"


def seed_demo(conn: psycopg.Connection, data_dir: Path, seed: int = DEMO_SEED,
              today: date | None = None) -> bool:
    """Seed the demo trust in the caller's transaction; False when it was already there
    complete (nothing written).

    Review dates and hospital episodes are placed relative to `today` (default: today).
    A trust seeded before the care data existed gets its telecare devices and care data."""
    today = today or clock.today()
    plan = plan_demo(seed)
    target = demo_dir(data_dir)
    if _already_seeded(conn):
        completed = _complete(conn, plan, seed, today)
        if completed:
            logger.info("added telecare devices and care data to the demo trust")
        if not (target / "caseload.toml").exists():
            _write_caseload(conn, plan, seed, target)
        return completed
    team_ids = [registry.add_team(conn, code, name) for code, name in TEAMS]
    signins, staff_ids = _add_staff(conn, team_ids)
    patient_ids = [_add_patient(conn, p, team_ids, staff_ids, seed) for p in plan]
    add_care(conn, plan, patient_ids, staff_ids, seed, today)
    _write_caseload(conn, plan, seed, target)
    _write_signins(target / "signins.json", signins)
    logger.info("seeded %d teams, %d staff and %d patients", len(team_ids), len(signins),
                len(plan))
    return True


def _complete(conn: psycopg.Connection, plan: list[DemoPatient], seed: int, today: date) -> bool:
    """Telecare devices and care data for a demo trust seeded without them; False when there
    was nothing to add (or the trust is of another seed)."""
    rows = conn.execute("SELECT id, nhs_number FROM patients WHERE nhs_number = ANY(%s)",
                        ([p.nhs_number for p in plan],)).fetchall()
    by_number = {str(column(r, "nhs_number")): int(column(r, "id")) for r in rows}
    if len(by_number) != len(plan):
        return False
    cared = conn.execute("SELECT count(*) FROM patient_care WHERE patient_id = ANY(%s)",
                         (list(by_number.values()),)).fetchone()
    if cared is None or first_column(cared):
        return False
    staff = conn.execute("SELECT id, username FROM staff WHERE username = ANY(%s)",
                         ([u for u, *_ in STAFF],)).fetchall()
    staff_ids = {str(column(r, "username")): int(column(r, "id")) for r in staff}
    if len(staff_ids) != len(STAFF):
        return False
    known = {str(column(r, "device_id")) for r in conn.execute(
        "SELECT device_id FROM devices WHERE device_id = ANY(%s)",
        ([d.device_id for p in plan for d in p.simulation.devices],)).fetchall()}
    patient_ids = [by_number[p.nhs_number] for p in plan]
    for p, pid in zip(plan, patient_ids, strict=True):
        for device in p.simulation.devices:
            if device.device_id not in known:
                registry.add_device(conn, device_id=device.device_id, kind=device.kind,
                                    patient=pid, serial=f"SIM-{device.device_id.upper()}")
    add_care(conn, plan, patient_ids, staff_ids, seed, today)
    return True


def _already_seeded(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT count(*) AS n FROM teams WHERE code = ANY(%s)",
                       ([code for code, _ in TEAMS],)).fetchone()
    return bool(row and first_column(row))


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
                 staff_ids: dict[str, int], seed: int) -> int:
    side = "north" if p.team == 0 else "south"
    rng = random.Random(f"{seed}:home:{p.index}")
    pid = registry.add_patient(
        conn, nhs_number=p.nhs_number, given_name=p.given_name, family_name=p.family_name,
        birth_date=p.birth_date, team=team_ids[p.team], conditions=p.conditions,
        care_plan=dict(p.simulation.schedule), named_nurse_id=staff_ids[coordinator_of(p)],
        address_line=f"{rng.randint(1, 140)} {rng.choice(STREETS)}, Leeds",
        phone=f"0113 496 0{rng.randint(400, 999)}",
    )
    if p.home_oxygen:
        conn.execute("UPDATE patients SET on_home_oxygen = true WHERE id = %s", (pid,))
    if p.spo2_scale == 2:
        conn.execute(INSERT_THRESHOLD, (pid, SPO2_SCALE_RULE, Jsonb({"scale": 2}), SCALE2_REASON,
                                        staff_ids[f"matron.{side}"], f"matron.{side}"))
    for device in p.simulation.devices:
        registry.add_device(conn, device_id=device.device_id, kind=device.kind, patient=pid,
                            serial=f"SIM-{device.device_id.upper()}")
    return pid


def _write_caseload(conn: psycopg.Connection, plan: list[DemoPatient], seed: int,
                    target: Path) -> None:
    rows = conn.execute("SELECT nhs_number, display_id FROM patients WHERE nhs_number = ANY(%s)",
                        ([p.nhs_number for p in plan],)).fetchall()
    display = {str(column(r, "nhs_number")): str(column(r, "display_id")) for r in rows}
    patients = tuple(_with_key(p.simulation, display[p.nhs_number]) for p in plan)
    dump_caseload(Caseload(seed=seed, patients=patients), target / "caseload.toml")


def _with_key(spec: PatientSpec, key: str) -> PatientSpec:
    return replace(spec, key=key)


def _write_signins(path: Path, signins: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(signins, out, indent=2)
    os.chmod(path, 0o600)  # also when the file already existed with wider permissions


def register(app: typer.Typer) -> None:
    """Add `telehub seed` to the CLI."""

    @app.command()
    def seed(demo: bool = typer.Option(False, "--demo", help="Seed the demo trust."),
             seed_value: int = typer.Option(DEMO_SEED, "--seed",
                                            help="Random seed of the demo caseload.")) -> None:
        """Register the demo trust: teams, staff, patients, devices and the simulators' caseload."""
        from telehub.config import get_settings
        from telehub.db.pool import connect
        from telehub.errors import TelehubError

        if not demo:
            typer.secho("error: say what to seed: --demo", err=True, fg=typer.colors.RED)
            raise typer.Exit(2)
        settings = get_settings()
        try:
            with connect(settings.require_database_url()) as conn:
                existed = _already_seeded(conn)
                changed = seed_demo(conn, settings.data_dir, seed_value)
        except TelehubError as err:
            typer.secho(f"error: {err}", err=True, fg=typer.colors.RED)
            raise typer.Exit(1) from err
        where = demo_dir(settings.data_dir)
        if changed and existed:
            typer.echo("Demo trust already seeded; added its telecare devices and care data.")
        elif changed:
            typer.echo(f"Demo trust seeded: {len(TEAMS)} teams, {len(STAFF)} staff, "
                       f"{PATIENT_COUNT} patients.\n  caseload: {where / 'caseload.toml'}\n"
                       f"  sign-ins: {where / 'signins.json'}")
        else:
            typer.echo("Demo trust already seeded; nothing changed.")

