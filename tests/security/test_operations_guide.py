"""docs/operations.md (and the operations pages it links to) names only what exists: every
`telehub …` command line runs its command's `--help` through the CLI's entry point and uses
only options it takes; every repository path, link, setting and API route named is real;
every Prometheus alert has a section whose anchor the rule's runbook_url names."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.main import create_app
from telehub.cli import app as cli_app
from telehub.config import Settings
from tests.security.operations_guide import (
    ALERTS,
    GUIDE,
    RULES,
    CommandLine,
    alert_problems,
    command_lines,
    command_problems,
    heading_anchors,
    path_problems,
    route_problems,
    setting_problems,
)
from tests.security.systemd_units import cli_env_names, setting_env_names

DOCS = (GUIDE, GUIDE.parent / "operations" / "backup-and-restore.md",
        GUIDE.parent / "operations" / "retention.md")
TEXT = GUIDE.read_text(encoding="utf-8")
LINES = [(doc, line) for doc in DOCS for line in command_lines(doc.read_text(encoding="utf-8"))]


def _routes() -> set[tuple[str, str]]:
    """(method, path) of every API route, from the app's own OpenAPI document."""
    api = create_app(Settings(database_url="postgresql://nobody@127.0.0.1:1/none"))
    return {(method.upper(), path) for path, item in api.openapi()["paths"].items()
            for method in item}


def test_the_guide_gives_the_commands_an_operator_needs() -> None:
    given = {" ".join(line.words[:2]) for doc, line in LINES if doc == GUIDE}
    for needed in ("migrate", "teams add", "users add", "broker config", "backup --out",
                   "devices rotate-password", "users disable"):
        assert any(g.startswith(needed) for g in given), needed
    assert len(given) >= 10


@pytest.mark.parametrize(("doc", "line"), LINES,
                         ids=[f"{d.stem}: {' '.join(x.words[:3])}" for d, x in LINES])
def test_every_telehub_command_line_is_a_real_command_with_real_options(
        doc: Path, line: CommandLine) -> None:
    assert command_problems(line) == [], doc.name


def test_the_command_check_refuses_a_misspelt_command_or_option() -> None:
    bad = command_lines("```sh\ntelehub devices rotate-pasword --device-id x\n"
                        "telehub backup --outt /tmp/x.dump\n"
                        "telehub broker config --out /x --hub-pasword-file /y\n```\n")
    found = [p for line in bad for p in command_problems(line)]
    assert any("`telehub devices rotate-pasword` is not a command" in p for p in found)
    assert any("takes no --outt" in p for p in found)
    assert any("takes no --hub-pasword-file" in p for p in found)
    assert len(found) == 3


@pytest.mark.parametrize("doc", DOCS, ids=[d.stem for d in DOCS])
def test_every_repository_path_and_link_it_names_exists(doc: Path) -> None:
    assert path_problems(doc.read_text(encoding="utf-8"), doc) == []


def test_the_path_check_refuses_a_missing_file_and_a_broken_link() -> None:
    text = ("Install `deploy/systemd/telehub-hubb@.service` and "
            "/opt/telehub/deploy/nginx/telehub.conf; see [x](operations/nowhere.md) and "
            "[y](#no-such-heading).\n\n## A heading\n")
    assert path_problems(text) == [
        "deploy/systemd/telehub-hubb@.service does not exist",
        "link operations/nowhere.md does not exist", "link #no-such-heading names no heading"]


def test_every_setting_it_names_is_read_by_telehub() -> None:
    known = setting_env_names() | cli_env_names(cli_app)
    for doc in DOCS:
        assert setting_problems(doc.read_text(encoding="utf-8"), known) == [], doc.name
    assert setting_problems("set TELEHUB_RETENTION__READING_DAYS=90", known) == [
        "TELEHUB_RETENTION__READING_DAYS is not a setting"]


def test_every_api_route_it_names_exists() -> None:
    routes = _routes()
    assert route_problems(TEXT, routes) == []
    assert route_problems("`POST /devices/{id}/credential`", routes) == [
        "POST /devices/{id}/credential is not an API route"]


def test_every_alert_has_a_section_its_runbook_url_names() -> None:
    assert alert_problems(TEXT) == []
    anchors = heading_anchors(TEXT)
    assert {name.lower() for name in ALERTS} <= anchors
    if not RULES.exists():
        pytest.skip("deploy/prometheus/telehub-rules.yml is not in this tree yet; "
                    "the sections were checked against the six names")


def test_the_alert_check_catches_a_missing_section_and_a_wrong_runbook(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(
        "groups:\n  - name: t\n    rules:\n"
        "      - alert: TelehubHubDown\n        expr: up == 0\n"
        "        annotations:\n          runbook_url: docs/operations.md#telehubhubdown\n"
        "      - alert: TelehubNewAlert\n        expr: up == 0\n"
        "        annotations:\n          runbook_url: docs/operations.md#telehubnewalert\n"
        "      - alert: TelehubIngestBacklog\n        expr: up == 0\n"
        "        annotations:\n          runbook_url: docs/operations.md#backlog\n",
        encoding="utf-8")
    text = TEXT.replace("### TelehubOutboxUndelivered", "### Outbox")
    found = alert_problems(text, rules)
    assert found == [
        "alert TelehubOutboxUndelivered has no section",
        "alert TelehubNewAlert of rules.yml has no section",
        "alert TelehubNewAlert's runbook_url 'docs/operations.md#telehubnewalert' is not its "
        "section here",
        "alert TelehubIngestBacklog's runbook_url 'docs/operations.md#backlog' is not its "
        "section here"]
