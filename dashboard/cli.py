"""`telehub dashboard`: serve the Streamlit dashboard against the configured API."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from telehub.config import Settings, get_settings

APP = Path(__file__).parent / "app.py"


def streamlit_command(settings: Settings) -> list[str]:
    """The `streamlit run` command line for these settings (headless, on dashboard_host and
    dashboard_port)."""
    return [sys.executable, "-m", "streamlit", "run", str(APP),
            "--server.address", settings.dashboard_host,
            "--server.port", str(settings.dashboard_port),
            "--server.headless", "true",
            # Stated, not left to Streamlit's defaults: enableCORS=true is the protection
            # (false would send Access-Control-Allow-Origin: * and accept a session stream
            # from any site); XSRF protection guards uploads (the CSV imports).
            "--server.enableCORS", "true",
            "--server.enableXsrfProtection", "true",
            "--browser.gatherUsageStats", "false",
            "--client.toolbarMode", "minimal",
            "--theme.primaryColor", "#005eb8"]  # NHS blue, as the charts use


def run(settings: Settings) -> None:
    """Become the Streamlit server (exec, not a child), so a supervisor's or the demo's
    signal reaches Streamlit itself and no orphan server is left behind."""
    env = {**os.environ, "TELEHUB_API_URL": settings.api_url}
    command = streamlit_command(settings)
    sys.stdout.flush()
    os.execve(command[0], command, env)  # noqa: S606


def register(app: typer.Typer) -> None:
    """Add `telehub dashboard` to the CLI."""

    @app.command()
    def dashboard(host: str = typer.Option(None, help="Address (default: dashboard_host)."),
                  port: int = typer.Option(None, help="Port (default: dashboard_port)."),
                  api_url: str = typer.Option(None, "--api-url",
                                              help="The API (default: api_url).")) -> None:
        """Serve the dashboard (caseload, alerts, patients, responder queue, devices, team view,
        outcomes and MDT)."""
        settings = get_settings()
        updates = {k: v for k, v in (("dashboard_host", host), ("dashboard_port", port),
                                     ("api_url", api_url)) if v}
        if updates:
            settings = settings.model_copy(update=updates)
        typer.echo(f"dashboard on {settings.dashboard_url} (API {settings.api_url})")
        run(settings)
