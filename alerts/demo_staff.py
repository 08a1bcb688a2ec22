"""The demo's simulated team for alerts the hub raises: acknowledges and resolves them through
the alert lifecycle at the delays and with the outcomes alerts.demo_history draws, so the
inbox holds only recent alerts. The plan is drawn from the seed and the alert id, so a run is
deterministic from the seed. Alerts the simulators' backfill raised (readings older than the
alert) are handled as they appear, at a sixtieth of the usual delays: the team of the past
never saw them. A rule the team has already resolved three times as noise for a patient in 30
days is resolved as noise again, as nurses do with a known nuisance alert. Used by `telehub
demo` only."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from alerts.demo_history import Handling, plan_handling
from alerts.lifecycle import Actor, acknowledge, resolve
from telehub.domain import clock
from telehub.domain.codes import NOISE_OUTCOMES

LEARNT_NOISE = 3                    # noise resolutions of a rule for a patient in 30 days
BACKFILL_LAG = timedelta(hours=1)   # an alert created this long after its breach is backfilled
CATCH_UP = 60                       # backfilled alerts: the usual delays divided by this

_OPEN_SQL = """
SELECT a.id, a.patient_id, a.team_id, coalesce(a.values ->> 'rule', a.rule_id) AS rule,
       a.severity::text AS severity, a.status::text AS status, a.created_at, a.first_breach_at
FROM alerts a WHERE a.status <> 'resolved' ORDER BY a.created_at, a.id
"""
_STAFF_SQL = """
SELECT id, username, team_id FROM staff
WHERE active AND role IN ('matron', 'nurse') AND team_id IS NOT NULL ORDER BY username
"""
_NOISE_SQL = """
SELECT count(*) AS n FROM alerts WHERE patient_id = %s
  AND coalesce(values ->> 'rule', rule_id) = %s AND outcome::text = ANY(%s)
  AND resolved_at > %s AND resolved_at <= %s
"""


def _times(a: dict[str, Any], plan: Handling) -> tuple[datetime, datetime]:
    ack = timedelta(minutes=plan.ack_minutes)
    then = timedelta(minutes=plan.resolve_minutes)
    if a["created_at"] - a["first_breach_at"] > BACKFILL_LAG:
        ack_at = a["created_at"] + ack / CATCH_UP
        return ack_at, ack_at + then / CATCH_UP
    return a["created_at"] + ack, a["created_at"] + ack + then


def act_on_alerts(conn: psycopg.Connection[Any], seed: int, now: datetime) -> Counter[str]:
    """Acknowledge and resolve every active alert whose planned time has come; the counts."""
    cur = conn.cursor(row_factory=dict_row)
    team_staff: dict[int, list[Actor]] = {}
    for s in cur.execute(_STAFF_SQL).fetchall():
        team_staff.setdefault(s["team_id"], []).append(Actor(s["id"], s["username"]))
    done: Counter[str] = Counter()
    for a in cur.execute(_OPEN_SQL).fetchall():
        staff = team_staff.get(a["team_id"])
        if not staff:
            continue
        rng = random.Random(f"{seed}:staff:{a['id']}")
        plan = plan_handling(rng, a["severity"])
        ack_at, resolve_at = _times(a, plan)
        if ack_at > now:
            continue
        row = cur.execute(_NOISE_SQL, (a["patient_id"], a["rule"], sorted(NOISE_OUTCOMES),
                                       ack_at - timedelta(days=30), ack_at)).fetchone()
        outcome = "no-action-needed" if row and row["n"] >= LEARNT_NOISE else plan.outcome
        actor = staff[rng.randrange(len(staff))]
        if a["status"] == "open":
            with clock.use_clock(clock.FixedClock(ack_at)):
                acknowledge(conn, a["id"], actor, "Reviewed the readings.")
            done["acknowledged"] += 1
        if resolve_at <= now:
            with clock.use_clock(clock.FixedClock(resolve_at)):
                resolve(conn, a["id"], actor, outcome, None)
            done["resolved"] += 1
    return done
