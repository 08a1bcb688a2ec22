"""The demo caseload planned from a seed: teams, staff, patients, scenarios and devices."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import date, timedelta

from telehub.care import registration as registry
from telehub.domain.nhs_number import synthetic_nhs_numbers
from telehub.domain.roster import DeviceSpec, PatientSpec
from telehub.domain.units import Unit

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
# or so of the live demo, then send what they kept as one batch. A fluid gain of
# 0.8–1 kg/day started four days back has put at least 2.4 kg on the last morning
# weight against three days before it whatever the hour the demo starts (the last
# morning weight is up to a day old), so the heart-failure signature never depends
# on the time of day.
SCENARIO_START_DAYS = {
    "hf-decompensation": (-4.5, -4.0), "copd-exacerbation": (-3.0, -2.5),
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


def coordinator_of(p: DemoPatient) -> str:
    """The matron holds the complex caseload (multimorbidity), the district nurse the rest."""
    side = "north" if p.team == 0 else "south"
    return f"matron.{side}" if len(p.conditions) > 1 else f"nurse.{side}"

