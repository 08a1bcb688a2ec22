"""The demo trust's history against a real PostgreSQL: patients enrolled months back with
episodes before and since, a comparison cohort, months of alerts the simulated team
acknowledges and resolves through the lifecycle, two accepted threshold suggestions and two
waiting; the same seed gives the same figures, another seed other figures."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from alerts import demo_history
from alerts.catalogue import load_catalogue
from alerts.demo_staff import act_on_alerts
from alerts.suggestions import suggest_threshold
from api.queries.before_after import before_after
from api.queries.rule_performance import noisy_rules, rule_performance
from telehub.db.pool import connect
from telehub.demo.caseload import DEMO_SEED
from telehub.demo.seed import seed_demo
from telehub.domain import clock
from tests.databases import clone_database

LONDON = ZoneInfo("Europe/London")
ANCHORS = [datetime(2026, 12, 1, 0, 30, tzinfo=LONDON),   # just into a month
           datetime(2026, 3, 29, 8, 0, tzinfo=LONDON)]    # the spring clock change


@pytest.fixture
def second_db(pg_admin_url: str, template_db: str) -> Iterator[str]:
    """Another fresh, migrated database."""
    name = f"telehub_t_{uuid.uuid4().hex[:12]}"
    clone_database(pg_admin_url, name, template_db)
    yield make_conninfo(pg_admin_url, dbname=name)
    with psycopg.connect(pg_admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


def _seed_and_run(url: str, data_dir: Path, seed: int, now: datetime) -> dict[str, Any]:
    """Seed the demo at `now`, let the simulated team act, and read the figures."""
    with clock.use_clock(clock.FixedClock(now)), connect(url) as conn:
        seed_demo(conn, data_dir, seed, today=clock.today())
        written = demo_history.write_alert_history(conn, seed, clock.today())
        assert demo_history.write_alert_history(conn, seed, clock.today()) == 0  # once only
        done = act_on_alerts(conn, seed, now)
        conn.commit()
        teams = [r["id"] for r in conn.execute("SELECT id FROM teams ORDER BY id").fetchall()]
        figures: dict[str, Any] = {"done": dict(done), "written": written}
        for team in teams:
            figures[f"rules {team}"] = rule_performance(
                conn, team, now - timedelta(days=365), now, LONDON).model_dump()
            figures[f"before-after {team}"] = before_after(conn, team, LONDON).model_dump()
            figures[f"suggestions {team}"] = [s.model_dump() for s in noisy_rules(conn, team,
                                                                                   now)]
        figures["open"] = conn.execute("SELECT count(*) AS n FROM alerts WHERE status <> "
                                       "'resolved'").fetchone()["n"]
        figures["outcomes"] = {r["outcome"]: r["n"] for r in conn.execute(
            "SELECT outcome::text AS outcome, count(*) AS n FROM alerts GROUP BY 1 ORDER BY 1")}
        figures["decisions"] = conn.execute(
            "SELECT d.decision, d.params, t.reason FROM threshold_suggestion_decisions d "
            "JOIN thresholds t ON t.id = d.threshold_id ORDER BY d.id").fetchall()
        figures["watched"] = conn.execute(
            "SELECT count(DISTINCT alert_id) AS n FROM alert_events WHERE kind = 'watch-ended'"
        ).fetchone()["n"]
        figures["ack_minutes"] = [float(r["m"]) for r in conn.execute(
            "SELECT EXTRACT(EPOCH FROM acknowledged_at - created_at) / 60 AS m FROM alerts "
            "ORDER BY id")]
    return figures


@pytest.mark.parametrize("anchor", ANCHORS, ids=lambda a: a.strftime("%Y-%m-%d-%H%M"))
def test_the_same_seed_gives_the_same_working_team(db_url: str, second_db: str, tmp_path: Path,
                                                   anchor: datetime) -> None:
    now = anchor.astimezone(ZoneInfo("UTC"))
    started = time.perf_counter()
    first = _seed_and_run(db_url, tmp_path / "a", DEMO_SEED, now)
    seconds = time.perf_counter() - started
    assert first == _seed_and_run(second_db, tmp_path / "b", DEMO_SEED, now)
    print(f"seed and simulated team: {seconds:.1f} s")
    # Every page has figures: resolved alerts with actions and noise, before/after rates.
    assert first["open"] == 0 and first["written"] > 300
    outcomes = first["outcomes"]
    assert outcomes["advice-given"] > outcomes["false-alarm"] > 0
    assert 0 < first["watched"] < first["written"] // 4   # some watched, then settled
    acks = sorted(first["ack_minutes"])
    assert 0 < acks[len(acks) // 2] < 8 * 60           # most within hours
    for key in (k for k in first if k.startswith("before-after")):
        out = first[key]
        assert out["monitored_patients"] >= 15 and out["comparison_members"] >= 25
        admissions = out["measures"][0]
        assert admissions["monitored"]["before"]["per_1000"] > \
            admissions["monitored"]["after"]["per_1000"] > 0
        assert admissions["difference_in_differences"]["per_1000"] is not None
    for key in (k for k in first if k.startswith("rules")):
        assert any(r["action"] and r["admissions_preceded"] for r in first[key]["rules"])
    # Two suggestions accepted five weeks ago (the limit the suggestion rule gives), two waiting.
    catalogue = load_catalogue()
    rule = catalogue.get(demo_history.NOISY_RULE)
    assert rule is not None
    expected = suggest_threshold(rule, rule.params, [94.0, 95.0], catalogue).params
    assert [(d["decision"], d["params"]) for d in first["decisions"]] == [
        ("accepted", dict(expected))] * 2
    waiting = [s for k, v in first.items() if k.startswith("suggestions") for s in v]
    assert sorted(s["rule_id"] for s in waiting) == [demo_history.NOISY_RULE] * 2
    assert all(s["suggested"] == dict(expected) for s in waiting)


def test_another_seed_gives_another_team(db_url: str, second_db: str, tmp_path: Path) -> None:
    now = ANCHORS[0].astimezone(ZoneInfo("UTC"))
    one = _seed_and_run(db_url, tmp_path / "a", DEMO_SEED, now)
    other = _seed_and_run(second_db, tmp_path / "b", DEMO_SEED + 1, now)
    assert one["outcomes"] != other["outcomes"]


def test_telehub_demo_writes_the_history_once_through_the_command_line(
        db_url: str, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "TELEHUB_DATABASE_URL": db_url, "TELEHUB_DATA_DIR": str(tmp_path),
           "TELEHUB_LOG_LEVEL": "WARNING"}

    def telehub(*args: str) -> str:
        return subprocess.run([sys.executable, "-m", "telehub", *args], env=env, check=True,
                              capture_output=True, text=True, timeout=180).stdout

    telehub("seed", "--demo")
    first = telehub("alerts", "demo-staff", "--history")
    assert first.startswith("demo history: ") and int(first.split()[2]) > 300
    assert telehub("alerts", "demo-staff", "--history").startswith("demo history: 0 alerts")
    with connect(db_url) as conn:
        row = conn.execute("SELECT count(*) AS n FROM patients WHERE enrolled_at < now() - "
                           "interval '6 months'").fetchone()
        assert row is not None and row["n"] >= 30
        row = conn.execute("SELECT count(*) AS n FROM alerts WHERE status <> 'resolved'"
                           ).fetchone()
        assert row is not None and row["n"] == 0
