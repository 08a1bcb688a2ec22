"""`telehub bench alert-burden --variants suggestions`: the demo's alert history replayed with
its accepted threshold suggestions removes exactly the alerts whose worst reading no longer
breaches the accepted limit, and the share that led to action rises accordingly."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from bench.suggestion_burden import still_fires, suggestion_burden
from telehub.db.pool import connect
from telehub.demo.caseload import DEMO_SEED
from telehub.domain import clock
from telehub.domain.codes import ACTION_OUTCOMES, NOISE_OUTCOMES

NOW = datetime(2026, 10, 25, 9, 0, tzinfo=ZoneInfo("Europe/London"))   # a clock-change day


def _rows(conn: psycopg.Connection[Any], query: str) -> list[dict[str, Any]]:
    return list(conn.execute(query).fetchall())


def test_replaying_the_accepted_suggestions_drops_only_alerts_that_would_not_fire(
        db_url: str, tmp_path: Path) -> None:
    with clock.use_clock(clock.FixedClock(NOW)), connect(db_url) as conn:
        recorded, accepted, every = suggestion_burden(conn, DEMO_SEED, clock.today(),
                                                      clock.now())
        alerts = _rows(conn, "SELECT a.patient_id, a.values ->> 'rule' AS rule, "
                             "(a.values -> 'worst' ->> 'value')::float8 AS worst, "
                             "a.outcome::text AS outcome FROM alerts a")
        limits = {(r["patient_id"], r["rule_id"]): float(r["params"]["at_or_below"])
                  for r in _rows(conn, "SELECT patient_id, rule_id, params FROM "
                                       "threshold_suggestion_decisions")}
        enrolled = [r["enrolled_at"] for r in _rows(conn, "SELECT enrolled_at FROM patients")]
    days = sum((NOW - e).total_seconds() for e in enrolled) / 86400
    assert len(limits) == 2
    dropped = [a for a in alerts if (a["patient_id"], a["rule"]) in limits
               and a["worst"] > limits[(a["patient_id"], a["rule"])]]
    assert dropped and sum(a["outcome"] in NOISE_OUTCOMES for a in dropped) >= 6  # the noisy six
    assert recorded.alerts == len(alerts) and accepted.alerts == len(alerts) - len(dropped)
    assert every.alerts < accepted.alerts
    action = sum(1 for a in alerts if a["outcome"] in ACTION_OUTCOMES)
    noise = sum(1 for a in alerts if a["outcome"] in NOISE_OUTCOMES)
    assert (recorded.action, recorded.noise) == (action, noise)
    assert (accepted.action, accepted.noise) == (
        action - sum(a["outcome"] in ACTION_OUTCOMES for a in dropped),
        noise - sum(a["outcome"] in NOISE_OUTCOMES for a in dropped))
    assert accepted.action_share is not None and recorded.action_share is not None
    assert accepted.action_share > recorded.action_share
    assert abs(recorded.per_100_patient_days - round(100 * len(alerts) / days, 2)) < 0.01


def test_an_alert_still_fires_when_its_worst_reading_breaches_the_new_limit() -> None:
    assert still_fires(94.0, {"at_or_below": 94.0}) and not still_fires(95.0, {"at_or_below": 94})
    assert still_fires(3.6, {"below": 3.7}) and not still_fires(3.7, {"below": 3.7})
    assert still_fires(120.0, {"at_or_above": 119}) and not still_fires(118.0, {"above": 118})
    assert still_fires(None, {"at_or_below": 94.0}) and still_fires(92.0, {})
