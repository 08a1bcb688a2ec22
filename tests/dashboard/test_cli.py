"""`telehub dashboard` runs Streamlit headless on the configured port against the API URL."""

from __future__ import annotations

import sys

import typer
from typer.testing import CliRunner

from dashboard.cli import APP, register, streamlit_command
from telehub.config import Settings


def test_streamlit_runs_the_app_headless_on_the_dashboard_port() -> None:
    command = streamlit_command(Settings(dashboard_port=8765))
    assert command[:4] == [sys.executable, "-m", "streamlit", "run"]
    assert command[4] == str(APP) and APP.is_file()
    assert command[command.index("--server.port") + 1] == "8765"
    assert command[command.index("--server.headless") + 1] == "true"


def test_the_command_registers_on_a_typer_app() -> None:
    cli = typer.Typer()
    register(cli)

    @cli.command()
    def other() -> None:  # two commands, so Typer keeps the `dashboard` name
        """Nothing."""

    result = CliRunner().invoke(cli, ["dashboard", "--help"])
    assert result.exit_code == 0
    assert "--port" in result.output and "--api-url" in result.output
