"""The care around each demo patient: care team, carers, reviews, risk, coverage, episodes."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import psycopg

from telehub.care.episodes import add_follow_up, record_episode, review
from telehub.care.plan import next_review_due, record_review, set_advice
from telehub.care.risk import store_risk_score
from telehub.care.team import add_contact, cover_team, save_care_team
from telehub.demo.caseload import FAMILY_NAMES, TEAMS, DemoPatient, coordinator_of

# Care data.
OVERDUE_REVIEWS = 6


ADVANCE_DECISION_SHARE = 0.2


SPA_PHONES = ("0113 496 0100", "0113 496 0200")   # each team's single point of access


PRACTICES = (("Moorside Surgery", "0113 496 0311"), ("Beckfield Medical Practice", "0113 496 0322"),
             ("Hollin Lane Health Centre", "0113 496 0333"),
             ("Aire Valley Family Practice", "0113 496 0344"))


GP_NAMES = ("Dr Helen Brigstock", "Dr Samuel Oyelaran", "Dr Priya Nandakumar",
            "Dr Martin Fellgate", "Dr Aisha Rahimi", "Dr Owen Tatterfield")


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


def add_care(conn: psycopg.Connection, plan: list[DemoPatient], patient_ids: list[int],
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
        cover_team(conn, staff_ids["responder"], first_column(row))
    _add_episodes(conn, rng, plan, patient_ids, names, today)


def _staff_names(conn: psycopg.Connection, staff_ids: dict[str, int]) -> dict[str, str]:
    rows = conn.execute("SELECT username, display_name FROM staff WHERE id = ANY(%s)",
                        (list(staff_ids.values()),)).fetchall()
    return {str(column(r, "username")): str(column(r, "display_name")) for r in rows}


def _add_patient_care(conn: psycopg.Connection, rng: random.Random, p: DemoPatient, pid: int,
                      staff_ids: dict[str, int], names: dict[str, str], today: date,
                      overdue: bool) -> None:
    coordinator = coordinator_of(p)
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
        reviewer = names[coordinator_of(p)]
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


def column(row: Any, name: str) -> Any:
    return row[name]


def first_column(row: Any) -> Any:
    return row[0] if isinstance(row, tuple | list) else next(iter(row.values()))

