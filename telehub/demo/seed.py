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
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import psycopg
import typer
from psycopg.types.json import Jsonb

from telehub.care import registration as registry
from telehub.care.episodes import add_follow_up, record_episode, review
from telehub.care.plan import next_review_due, record_review, set_advice
from telehub.care.risk import store_risk_score
from telehub.care.team import add_contact, cover_team, save_care_team
from telehub.domain import clock
from telehub.domain.nhs_number import synthetic_nhs_numbers
from telehub.domain.roster import Caseload, DeviceSpec, PatientSpec, dump_caseload
from telehub.domain.units import Unit
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
# Telecare: who wears a pendant, who has a fall detector, whose fall the demo shows.
PENDANT_COUNT = 20             # patients with a pendant alarm
PENDANT_PRESSERS = 5           # ... of whom these press it now and then
PENDANT_EVERY_DAYS = (3.0, 6.0)
FALL_DETECTOR_COUNT = 3        # patients with a fall detector (and a pendant)
# Each `fall` scenario fires this many days before the demo starts: inside the demo's
# compressed last hours, so the falls come a few seconds into the live demo.
FALL_START_DAYS = (-0.15, -0.07)
SMOKE_DETECTOR_COUNT = 8       # linked smoke detectors (never go off in the demo)
# Care data.
OVERDUE_REVIEWS = 6
ADVANCE_DECISION_SHARE = 0.2
SPA_PHONES = ("0113 496 0100", "0113 496 0200")   # each team's single point of access
PRACTICES = (("Moorside Surgery", "0113 496 0311"), ("Beckfield Medical Practice", "0113 496 0322"),
             ("Hollin Lane Health Centre", "0113 496 0333"),
             ("Aire Valley Family Practice", "0113 496 0344"))
GP_NAMES = ("Dr Helen Brigstock", "Dr Samuel Oyelaran", "Dr Priya Nandakumar",
            "Dr Martin Fellgate", "Dr Aisha Rahimi", "Dr Owen Tatterfield")
STREETS = ("Moorview Terrace", "Beck Lane", "Hollin Drive", "Quarry Close", "Mill Fold",
           "Chapel Row", "Aireside Walk", "Weaver Court", "Tenter Street", "Kiln Grove")
CARER_NAMES = ("Julie", "Mark", "Sarah", "Paul", "Karen", "Andrew", "Lisa", "Steven", "Nicola",
               "Gary", "Claire", "Wayne")
RELATIONSHIPS = ("Daughter", "Son", "Wife", "Husband", "Neighbour", "Niece", "Friend")
KEY_SAFES = ("Key safe to the left of the front door; code held by the response centre.",
             "Key safe behind the side gate; code held by the response centre.",
             "No key safe: daughter holds a key (10 minutes away).",
             "Key safe by the back door; code held by the response centre.")
ACCESS_NOTES = ("Ground-floor flat; buzzer 3.", "Dog in the kitchen: friendly but loud.",
                "Uses a walking frame; slow to the door.", "Hard of hearing: knock loudly.",
                "Back door is the easier entrance.", "")
ADVICE = {
    "weight-gain": "Weigh yourself again tomorrow morning; take your water tablet as agreed "
                   "and ring the single point of access if your ankles or breathing get worse.",
    "spo2-low": "Sit upright and rest for 10 minutes, then measure again; if you are more "
                "breathless start your rescue pack and ring the single point of access.",
    "glucose-low": "Take 4 glucose tablets or a small glass of juice now, check again in "
                   "15 minutes, then eat a snack.",
    "glucose-high": "Drink water, check for ketones if you can, and ring the single point of "
                    "access if you feel unwell or are being sick.",
    "pulse": "Rest and measure again in 15 minutes; ring the single point of access if it "
             "stays high or you feel dizzy.",
}
# Tiers from the risk-stratification tool and the score bands behind them.
RISK_TIERS = (("very high", 80.0, 99.0), ("high", 60.0, 80.0), ("moderate", 35.0, 60.0),
              ("low", 5.0, 35.0))
HOSPITALS = ("Leeds General Infirmary", "St James's University Hospital")
# Past hospital episodes: (kind, days ago started, days in hospital or None, reason,
# avoidable, what would have helped, follow-up task done). Patients are picked by seed.
EPISODES: tuple[tuple[str, int, int | None, str, str | None, str | None, bool | None], ...] = (
    ("emergency-admission", 150, 6, "Heart failure exacerbation", "yes",
     "Acting on the 3-day weight gain alert: diuretic increased at home.", True),
    ("emergency-admission", 118, 4, "COPD exacerbation", "unsure",
     "Earlier rescue pack; the patient was not sure when to start it.", True),
    ("ae-attendance", 97, None, "Fall at home, no injury", None, None, None),
    ("emergency-admission", 84, 9, "Community-acquired pneumonia", "no", None, True),
    ("emergency-admission", 61, 3, "Hypoglycaemia", "yes",
     "Insulin dose review after the repeated low readings.", True),
    ("ae-attendance", 45, None, "Breathlessness", None, None, None),
    ("emergency-admission", 33, 5, "Heart failure exacerbation", "unsure",
     "Carer notified of the amber alert; district nurse visit the same day.", True),
    ("emergency-admission", 24, 2, "Heart failure exacerbation (readmission)", None, None, False),
    ("ae-attendance", 12, None, "Chest pain, discharged from A&E", None, None, None),
    ("emergency-admission", 6, 3, "COPD exacerbation", None, None, False),
)
READMITTED_EPISODES = (6, 7)   # the same patient, back within 30 days

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
    return _with_telecare(patients, seed)


def _with_telecare(patients: list[DemoPatient], seed: int) -> list[DemoPatient]:
    """Pendants, fall detectors (two of them with a `fall`) and smoke detectors, drawn from
    their own generator so the rest of the plan is the same as without them."""
    rng = random.Random(f"{seed}:telecare")
    stable = [p.index for p in patients if p.simulation.scenario == "stable"]
    fallers = rng.sample(stable, min(FALL_DETECTOR_COUNT, len(stable)))
    others = [p.index for p in patients if p.index not in fallers]
    wearers = fallers + rng.sample(others, min(PENDANT_COUNT - len(fallers), len(others)))
    pressers = set(rng.sample(wearers[len(fallers):],
                              min(PENDANT_PRESSERS, len(wearers) - len(fallers))))
    smoke = set(rng.sample([p.index for p in patients],
                           min(SMOKE_DETECTOR_COUNT, len(patients))))
    falls = dict(zip(fallers, FALL_START_DAYS, strict=False))
    out = []
    for p in patients:
        spec = p.simulation
        n = p.index + 1
        extra = []
        if p.index in fallers:
            extra.append(DeviceSpec(f"fd-{n:04d}", "fall-detector", None))
        if p.index in wearers:
            extra.append(DeviceSpec(f"pd-{n:04d}", "pendant", None))
        if p.index in smoke:
            extra.append(DeviceSpec(f"sm-{n:04d}", "smoke", None))
        if extra:
            spec = replace(spec, devices=spec.devices + tuple(extra))
        if p.index in falls:
            spec = replace(spec, scenario="fall", scenario_start_days=falls[p.index])
        if p.index in pressers:
            spec = replace(spec, pendant_every_days=round(rng.uniform(*PENDANT_EVERY_DAYS), 1))
        out.append(replace(p, simulation=spec))
    return out


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
    _add_care(conn, plan, patient_ids, staff_ids, seed, today)
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
    by_number = {str(_field(r, "nhs_number")): int(_field(r, "id")) for r in rows}
    if len(by_number) != len(plan):
        return False
    cared = conn.execute("SELECT count(*) FROM patient_care WHERE patient_id = ANY(%s)",
                         (list(by_number.values()),)).fetchone()
    if cared is None or _first(cared):
        return False
    staff = conn.execute("SELECT id, username FROM staff WHERE username = ANY(%s)",
                         ([u for u, *_ in STAFF],)).fetchall()
    staff_ids = {str(_field(r, "username")): int(_field(r, "id")) for r in staff}
    if len(staff_ids) != len(STAFF):
        return False
    known = {str(_field(r, "device_id")) for r in conn.execute(
        "SELECT device_id FROM devices WHERE device_id = ANY(%s)",
        ([d.device_id for p in plan for d in p.simulation.devices],)).fetchall()}
    patient_ids = [by_number[p.nhs_number] for p in plan]
    for p, pid in zip(plan, patient_ids, strict=True):
        for device in p.simulation.devices:
            if device.device_id not in known:
                registry.add_device(conn, device_id=device.device_id, kind=device.kind,
                                    patient=pid, serial=f"SIM-{device.device_id.upper()}")
    _add_care(conn, plan, patient_ids, staff_ids, seed, today)
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


def _coordinator(p: DemoPatient) -> str:
    """The matron holds the complex caseload (multimorbidity), the district nurse the rest."""
    side = "north" if p.team == 0 else "south"
    return f"matron.{side}" if len(p.conditions) > 1 else f"nurse.{side}"


def _add_patient(conn: psycopg.Connection, p: DemoPatient, team_ids: list[int],
                 staff_ids: dict[str, int], seed: int) -> int:
    side = "north" if p.team == 0 else "south"
    rng = random.Random(f"{seed}:home:{p.index}")
    pid = registry.add_patient(
        conn, nhs_number=p.nhs_number, given_name=p.given_name, family_name=p.family_name,
        birth_date=p.birth_date, team=team_ids[p.team], conditions=p.conditions,
        care_plan=dict(p.simulation.schedule), named_nurse_id=staff_ids[_coordinator(p)],
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


def _add_care(conn: psycopg.Connection, plan: list[DemoPatient], patient_ids: list[int],
              staff_ids: dict[str, int], seed: int, today: date) -> None:
    """The care around each patient, risk tiers, responder coverage and hospital episodes."""
    rng = random.Random(f"{seed}:care")
    overdue = set(rng.sample(range(len(plan)), min(OVERDUE_REVIEWS, len(plan))))
    names = _staff_names(conn, staff_ids)
    for p, pid in zip(plan, patient_ids, strict=True):
        _add_patient_care(conn, rng, p, pid, staff_ids, names, today, p.index in overdue)
        _add_contacts(conn, rng, p, pid)
        _add_risk(conn, rng, p, pid, today)
    team_rows = conn.execute("SELECT id FROM teams WHERE code = ANY(%s) ORDER BY id",
                             ([code for code, _ in TEAMS],)).fetchall()
    for row in team_rows:
        cover_team(conn, staff_ids["responder"], _first(row))
    _add_episodes(conn, rng, plan, patient_ids, names, today)


def _staff_names(conn: psycopg.Connection, staff_ids: dict[str, int]) -> dict[str, str]:
    rows = conn.execute("SELECT username, display_name FROM staff WHERE id = ANY(%s)",
                        (list(staff_ids.values()),)).fetchall()
    return {str(_field(r, "username")): str(_field(r, "display_name")) for r in rows}


def _add_patient_care(conn: psycopg.Connection, rng: random.Random, p: DemoPatient, pid: int,
                      staff_ids: dict[str, int], names: dict[str, str], today: date,
                      overdue: bool) -> None:
    coordinator = _coordinator(p)
    practice, gp_phone = rng.choice(PRACTICES)
    reviewed = today - timedelta(days=rng.randint(95, 130) if overdue else rng.randint(7, 80))
    due = next_review_due(reviewed)
    consented = reviewed - timedelta(days=rng.randint(0, 200))
    advance = rng.random() < ADVANCE_DECISION_SHARE
    advice = {episode: text for episode, text in ADVICE.items()
              if (episode != "weight-gain" or "weight" in p.simulation.schedule)
              and (episode != "spo2-low" or "spo2" in p.simulation.schedule)
              and (not episode.startswith("glucose") or "glucose" in p.simulation.schedule)}
    role = "Community Matron" if coordinator.startswith("matron") else "District Nurse"
    save_care_team(conn, pid, {
        "gp_name": rng.choice(GP_NAMES), "gp_practice": practice, "gp_phone": gp_phone,
        "coordinator_id": staff_ids[coordinator], "coordinator_role": role,
        "spa_phone": SPA_PHONES[p.team], "key_safe_note": rng.choice(KEY_SAFES),
        "access_note": rng.choice(ACCESS_NOTES) or None, "advance_decision": advance,
        "advance_decision_note": ("ReSPECT form and DNACPR in place; the form is on the "
                                  "fridge." if advance else None),
        "consent_monitoring": True, "consent_sharing": rng.random() > 0.05,
        "consent_on": consented, "consent_taken_by": names[coordinator],
        "enrolment_conditions": True,
        "enrolment_risk": len(p.conditions) > 1 or rng.random() < 0.5,
        "enrolment_judgement": rng.random() < 0.3,
        "enrolment_note": ("Two or more admissions in the last year."
                           if len(p.conditions) > 1 else None)}, "seed")
    set_advice(conn, pid, advice, "seed")
    record_review(conn, pid, reviewed, due, reviewer_id=staff_ids[coordinator],
                  reviewer=names[coordinator], updated_by="seed",
                  note="Plan reviewed with the patient; triggers and advice unchanged.")


def _add_contacts(conn: psycopg.Connection, rng: random.Random, p: DemoPatient,
                  pid: int) -> None:
    for i in range(rng.choice((1, 1, 2))):
        relationship = rng.choice(RELATIONSHIPS)
        family = p.family_name if relationship not in ("Neighbour", "Friend") else rng.choice(
            FAMILY_NAMES)
        add_contact(conn, pid, {
            "name": f"{rng.choice(CARER_NAMES)} {family}", "relationship": relationship,
            "phone": f"07700 900{rng.randint(0, 999):03d}", "email": None,
            "next_of_kin": i == 0 and relationship not in ("Neighbour", "Friend"),
            "notify_alerts": rng.random() < 0.6})


def _add_risk(conn: psycopg.Connection, rng: random.Random, p: DemoPatient, pid: int,
              today: date) -> None:
    weights = (3, 4, 2, 1) if len(p.conditions) > 1 else (1, 2, 4, 3)
    _tier, low, high = rng.choices(RISK_TIERS, weights=weights)[0]
    score = round(rng.uniform(low, high), 1)
    # The previous quarter's score: lower for those whose risk is rising.
    earlier = round(max(score - rng.uniform(0.0, 15.0), 1.0), 1)
    for scored_on, value in ((today - timedelta(days=100), earlier),
                             (today - timedelta(days=10), score)):
        band = next((t for t, lo, _hi in RISK_TIERS if value >= lo), "low")
        store_risk_score(conn, pid, value, band, scored_on, "seed")


def _add_episodes(conn: psycopg.Connection, rng: random.Random, plan: list[DemoPatient],
                  patient_ids: list[int], names: dict[str, str], today: date) -> None:
    complex_first = sorted(range(len(plan)), key=lambda i: (-len(plan[i].conditions), i))
    chosen = rng.sample(complex_first[:30], len(EPISODES))
    chosen[READMITTED_EPISODES[1]] = chosen[READMITTED_EPISODES[0]]
    for (kind, ago, stay, reason, avoidable, helped, task_done), index in zip(
            EPISODES, chosen, strict=True):
        p, pid = plan[index], patient_ids[index]
        started = today - timedelta(days=ago)
        discharged = started + timedelta(days=stay) if stay is not None else started
        reviewer = names[_coordinator(p)]
        episode_id, _ = record_episode(conn, pid, kind, started, discharged,
                                       rng.choice(HOSPITALS), reason, source="manual",
                                       who="seed", follow_up_days=None)
        if avoidable:
            review(conn, episode_id, avoidable, helped, reviewer,
                   datetime.combine(discharged + timedelta(days=7), time(14), UTC))
        if task_done is None:
            continue
        due = discharged + timedelta(days=2)
        add_follow_up(conn, pid, episode_id, "Phone call within 2 days of discharge: medicines, "
                      "symptoms, monitoring restarted", due,
                      done_at=datetime.combine(due, time(11), UTC) if task_done else None,
                      done_by=reviewer if task_done else None,
                      note="Called; readings resumed." if task_done else None)


def _write_caseload(conn: psycopg.Connection, plan: list[DemoPatient], seed: int,
                    target: Path) -> None:
    rows = conn.execute("SELECT nhs_number, display_id FROM patients WHERE nhs_number = ANY(%s)",
                        ([p.nhs_number for p in plan],)).fetchall()
    display = {str(_field(r, "nhs_number")): str(_field(r, "display_id")) for r in rows}
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
