"""`telehub seed --demo` against a real PostgreSQL: complete, consistent, idempotent."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import typer
from typer.testing import CliRunner

from telehub import seed
from telehub.caseload import load_caseload
from telehub.config import get_settings
from telehub.nhs import is_valid_nhs_number
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
    tables = ("teams", "staff", "patients", "devices", "thresholds")
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
    assert seed.plan_demo(7) == seed.plan_demo(7)
    assert seed.plan_demo(7) != seed.plan_demo(8)


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
