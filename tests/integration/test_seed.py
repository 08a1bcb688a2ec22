"""`telehub seed --demo` against a real PostgreSQL: complete, consistent, idempotent."""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest
import typer
from typer.testing import CliRunner

from telehub.config import get_settings
from telehub.demo import care as demo_care
from telehub.demo import caseload as caseload_plan
from telehub.demo import seed
from telehub.domain.nhs_number import is_valid_nhs_number
from telehub.domain.roster import load_caseload
from telehub.passwords import verify_password


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Telehub."""

    seed.register(app)
    return app


@pytest.fixture
def seeded_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("TELEHUB_DATABASE_URL", db_url)
    monkeypatch.setenv("TELEHUB_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _counts(conn: psycopg.Connection) -> dict[str, int]:
    tables = ("teams", "staff", "patients", "devices", "thresholds", "patient_care",
              "patient_contacts", "care_plan_reviews", "risk_scores", "responder_coverage",
              "hospital_episodes", "follow_up_tasks")
    return {t: conn.execute(f"SELECT count(*) AS n FROM {t}").fetchone()["n"]
            for t in tables}


def test_demo_seed_registers_the_trust_and_a_second_run_changes_nothing(
        seeded_env: Path, conn: psycopg.Connection) -> None:
    runner = CliRunner()
    first = runner.invoke(_app(), ["seed", "--demo"])
    assert first.exit_code == 0, first.output
    counts = _counts(conn)
    assert counts["teams"] == 2 and counts["staff"] == 7 and counts["patients"] == 60
    assert counts["thresholds"] >= 1
    signins_path = seeded_env / "demo" / "signins.json"
    caseload_path = seeded_env / "demo" / "caseload.toml"
    signins_before = signins_path.read_text()
    caseload_before = caseload_path.read_text()

    second = runner.invoke(_app(), ["seed", "--demo"])
    assert second.exit_code == 0, second.output
    assert "nothing changed" in second.output
    assert _counts(conn) == counts
    assert signins_path.read_text() == signins_before
    assert caseload_path.read_text() == caseload_before


def test_demo_seed_signins_are_private_and_verify(seeded_env: Path,
                                                  conn: psycopg.Connection) -> None:
    assert CliRunner().invoke(_app(), ["seed", "--demo"]).exit_code == 0
    path = seeded_env / "demo" / "signins.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    signins = json.loads(path.read_text())
    roles = sorted(s["role"] for s in signins)
    assert roles == ["admin", "manager", "matron", "matron", "nurse", "nurse", "responder"]
    for s in signins:
        row = conn.execute("SELECT password_hash FROM staff WHERE username = %s",
                           (s["username"],)).fetchone()
        assert verify_password(row["password_hash"], s["password"])


def test_demo_caseload_matches_the_registered_devices(seeded_env: Path,
                                                      conn: psycopg.Connection) -> None:
    assert CliRunner().invoke(_app(), ["seed", "--demo"]).exit_code == 0
    caseload = load_caseload(seeded_env / "demo" / "caseload.toml")
    text = (seeded_env / "demo" / "caseload.toml").read_text()
    rows = conn.execute(
        "SELECT p.display_id, p.nhs_number, p.given_name, p.family_name, p.conditions, "
        "p.care_plan, d.device_id, d.kind::text AS kind "
        "FROM devices d JOIN patients p ON p.id = d.patient_id").fetchall()
    registered = {(r["display_id"], r["device_id"], r["kind"]) for r in rows}
    simulated = {(p.key, d.device_id, d.kind) for p in caseload.patients for d in p.devices}
    assert simulated == registered
    for r in rows:
        assert is_valid_nhs_number(r["nhs_number"]) and r["nhs_number"].startswith("999")
        assert r["nhs_number"] not in text and r["family_name"] not in text
    by_key = {p.key: p for p in caseload.patients}
    for r in rows:
        assert set(by_key[r["display_id"]].schedule) == set(r["care_plan"])
    scenarios = [p.scenario for p in caseload.patients]
    assert scenarios.count("stable") > 30
    for name in ("hf-decompensation", "copd-exacerbation", "hypo-episodes", "hyperglycaemia",
                 "nonadherent", "device-offline", "faulty-device"):
        assert name in scenarios
    for p in caseload.patients:
        if p.scenario == "hf-decompensation":
            assert "heart-failure" in p.conditions
        if p.scenario == "copd-exacerbation":
            assert "copd" in p.conditions
    scale2 = conn.execute("SELECT p.on_home_oxygen, t.params FROM thresholds t "
                          "JOIN patients p ON p.id = t.patient_id").fetchall()
    assert all(r["on_home_oxygen"] and r["params"] == {"scale": 2} for r in scale2)


def test_demo_plan_is_deterministic_from_its_seed() -> None:
    assert caseload_plan.plan_demo(7) == caseload_plan.plan_demo(7)
    assert caseload_plan.plan_demo(7) != caseload_plan.plan_demo(8)


def test_seed_without_what_to_seed_fails_clearly(seeded_env: Path) -> None:
    result = CliRunner().invoke(_app(), ["seed"])
    assert result.exit_code == 2


def test_a_lost_caseload_file_is_written_again_without_touching_the_database(
        seeded_env: Path, conn: psycopg.Connection) -> None:
    runner = CliRunner()
    assert runner.invoke(_app(), ["seed", "--demo"]).exit_code == 0
    caseload_path = seeded_env / "demo" / "caseload.toml"
    original = caseload_path.read_text()
    counts = _counts(conn)
    caseload_path.unlink()
    again = runner.invoke(_app(), ["seed", "--demo"])
    assert again.exit_code == 0 and "nothing changed" in again.output
    assert caseload_path.read_text() == original
    assert _counts(conn) == counts


# Ofcom's numbers for drama: mobiles 07700 900000–900999, Leeds 0113 496 0000–0999.
DRAMA_PHONE = re.compile(r"07700 900\d{3}|0113 496 0\d{3}")
TODAY = date(2026, 11, 26)


def test_demo_seed_fills_the_care_around_each_patient(tmp_path: Path,
                                                      conn: psycopg.Connection) -> None:
    assert seed.seed_demo(conn, tmp_path, today=TODAY)
    care = conn.execute(
        "SELECT pc.*, p.named_nurse_id, p.address_line, p.phone AS patient_phone "
        "FROM patient_care pc JOIN patients p ON p.id = pc.patient_id").fetchall()
    assert len(care) == 60
    for c in care:
        assert c["gp_name"].startswith("Dr ") and c["gp_practice"] and c["key_safe_note"]
        assert c["coordinator_id"] == c["named_nurse_id"]
        assert c["coordinator_role"] in ("Community Matron", "District Nurse")
        for phone in (c["gp_phone"], c["spa_phone"], c["patient_phone"]):
            assert DRAMA_PHONE.fullmatch(phone), phone
        assert c["consent_monitoring"] and c["consent_on"] <= TODAY and c["consent_taken_by"]
        assert c["address_line"].endswith(", Leeds") and c["advice"]
        assert c["advance_decision"] == (c["advance_decision_note"] is not None)
    assert 3 <= sum(c["advance_decision"] for c in care) <= 25
    overdue = [c for c in care if c["review_due"] < TODAY]
    assert len(overdue) == demo_care.OVERDUE_REVIEWS
    reviews = conn.execute("SELECT r.patient_id, r.next_due, pc.review_due "
                           "FROM care_plan_reviews r JOIN patient_care pc USING (patient_id)"
                           ).fetchall()
    assert len(reviews) == 60 and all(r["next_due"] == r["review_due"] for r in reviews)
    contacts = conn.execute("SELECT * FROM patient_contacts").fetchall()
    assert {c["patient_id"] for c in contacts} == {c["patient_id"] for c in care}
    assert all(DRAMA_PHONE.fullmatch(c["phone"]) for c in contacts)
    assert any(c["notify_alerts"] for c in contacts) and any(c["next_of_kin"] for c in contacts)
    tiers = conn.execute(
        "SELECT DISTINCT ON (patient_id) tier, score FROM risk_scores "
        "ORDER BY patient_id, scored_on DESC").fetchall()
    assert len(tiers) == 60
    assert {t["tier"] for t in tiers} >= {"very high", "high", "moderate", "low"}
    coverage = conn.execute("SELECT t.code FROM responder_coverage c JOIN staff s ON "
                            "s.id = c.staff_id JOIN teams t ON t.id = c.team_id "
                            "WHERE s.username = 'responder'").fetchall()
    assert sorted(r["code"] for r in coverage) == ["north-leeds", "south-leeds"]


def test_demo_seed_records_hospital_episodes_reviews_and_follow_ups(
        tmp_path: Path, conn: psycopg.Connection) -> None:
    assert seed.seed_demo(conn, tmp_path, today=TODAY)
    episodes = conn.execute("SELECT * FROM hospital_episodes ORDER BY started_on").fetchall()
    assert len(episodes) == len(demo_care.EPISODES)
    kinds = [e["kind"] for e in episodes]
    assert kinds.count("emergency-admission") >= 5 and kinds.count("ae-attendance") >= 2
    assert all(TODAY - timedelta(days=183) <= e["started_on"] < TODAY for e in episodes)
    reviewed = [e for e in episodes if e["avoidable"] is not None]
    assert reviewed and all(e["reviewed_by"] and e["reviewed_at"] for e in reviewed)
    # One patient is readmitted within 30 days of a discharge.
    admissions = [e for e in episodes if e["kind"] == "emergency-admission"]
    assert any(a["patient_id"] == b["patient_id"] and a is not b
               and b["discharged_on"] < a["started_on"] <= b["discharged_on"] + timedelta(30)
               for a in admissions for b in admissions)
    tasks = conn.execute("SELECT t.*, e.discharged_on FROM follow_up_tasks t "
                         "JOIN hospital_episodes e ON e.id = t.episode_id").fetchall()
    assert len(tasks) == len(admissions)
    assert all(t["due_on"] == t["discharged_on"] + timedelta(days=2) for t in tasks)
    assert any(t["done_at"] is None for t in tasks) and any(t["done_at"] for t in tasks)


def test_demo_seed_gives_telecare_devices_and_falls_early_in_the_live_demo(
        seeded_env: Path, conn: psycopg.Connection) -> None:
    assert CliRunner().invoke(_app(), ["seed", "--demo"]).exit_code == 0
    caseload = load_caseload(seeded_env / "demo" / "caseload.toml")
    kinds = [d.kind for p in caseload.patients for d in p.devices]
    assert kinds.count("pendant") == caseload_plan.PENDANT_COUNT
    assert 2 <= kinds.count("fall-detector") <= 3 and kinds.count("smoke") > 0
    fallers = [p for p in caseload.patients if p.scenario == "fall"]
    assert 1 <= len(fallers) <= 2
    for p in fallers:
        assert any(d.kind == "fall-detector" for d in p.devices)
        # Inside the demo's compressed last hours: a few seconds into the live demo.
        from device_simulators.cli import DEMO_WINDOW
        assert -DEMO_WINDOW / timedelta(days=1) < p.scenario_start_days < 0
    pressers = sum(p.pendant_every_days > 0 for p in caseload.patients)
    assert pressers == caseload_plan.PENDANT_PRESSERS
    registered = conn.execute("SELECT count(*) AS n FROM devices WHERE kind IN "
                              "('pendant', 'fall-detector', 'smoke')").fetchone()
    assert registered["n"] == sum(k in ("pendant", "fall-detector", "smoke") for k in kinds)


def test_the_telecare_plan_leaves_the_rest_of_the_demo_as_it_was() -> None:
    plan = caseload_plan.plan_demo(7)
    for p in plan:
        measuring = [d for d in p.simulation.devices if not d.telecare]
        assert measuring and all(d.unit is not None for d in measuring)
    scenarios = [p.simulation.scenario for p in plan]
    for name, count, _needs in caseload_plan.SCENARIO_MIX:
        assert scenarios.count(name) == count


def _care_snapshot(conn: psycopg.Connection) -> dict[str, list[tuple[object, ...]]]:
    """The seeded care data by NHS number, without generated ids and timestamps."""
    queries = {
        "care": "SELECT p.nhs_number, s.username, pc.gp_name, pc.gp_practice, pc.gp_phone, "
                "pc.spa_phone, pc.key_safe_note, pc.access_note, pc.advance_decision, "
                "pc.consent_sharing, pc.consent_on, pc.advice::text, pc.review_due, "
                "p.address_line, p.phone FROM patient_care pc "
                "JOIN patients p ON p.id = pc.patient_id JOIN staff s ON s.id = pc.coordinator_id",
        "contacts": "SELECT p.nhs_number, c.name, c.relationship, c.phone, c.next_of_kin, "
                    "c.notify_alerts FROM patient_contacts c "
                    "JOIN patients p ON p.id = c.patient_id",
        "risk": "SELECT p.nhs_number, r.score, r.tier, r.scored_on FROM risk_scores r "
                "JOIN patients p ON p.id = r.patient_id",
        "episodes": "SELECT p.nhs_number, e.kind, e.started_on, e.discharged_on, e.hospital, "
                    "e.reason, e.avoidable, t.due_on, t.done_at FROM hospital_episodes e "
                    "JOIN patients p ON p.id = e.patient_id "
                    "LEFT JOIN follow_up_tasks t ON t.episode_id = e.id",
        "devices": "SELECT p.nhs_number, d.device_id, d.kind::text FROM devices d "
                   "JOIN patients p ON p.id = d.patient_id",
    }
    return {name: sorted(tuple(r.values()) for r in conn.execute(q).fetchall())
            for name, q in queries.items()}


def test_demo_seed_care_data_is_deterministic(tmp_path: Path, conn: psycopg.Connection) -> None:
    assert seed.seed_demo(conn, tmp_path / "a", today=TODAY)
    first = _care_snapshot(conn)
    conn.rollback()
    assert seed.seed_demo(conn, tmp_path / "b", today=TODAY)
    assert _care_snapshot(conn) == first
    assert all(first.values())


def test_a_trust_seeded_without_care_data_gets_it_once(seeded_env: Path,
                                                       conn: psycopg.Connection) -> None:
    runner = CliRunner()
    assert runner.invoke(_app(), ["seed", "--demo"]).exit_code == 0
    complete = _counts(conn)
    for table in ("follow_up_tasks", "hospital_episodes", "responder_coverage", "risk_scores",
                  "care_plan_reviews", "patient_contacts", "patient_care"):
        conn.execute(f"DELETE FROM {table}")
    conn.execute("DELETE FROM devices WHERE kind IN ('pendant', 'fall-detector', 'smoke')")
    conn.commit()
    upgraded = runner.invoke(_app(), ["seed", "--demo"])
    assert upgraded.exit_code == 0 and "added its telecare devices and care data" in upgraded.output
    assert _counts(conn) == complete
    again = runner.invoke(_app(), ["seed", "--demo"])
    assert "nothing changed" in again.output and _counts(conn) == complete
