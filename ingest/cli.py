"""`telehub hub`: run ingest, the alert notifier and the scheduler."""

from __future__ import annotations

import typer

from telehub.config import get_settings
from telehub.errors import TelehubError


def register(app: typer.Typer) -> None:
    """Add the `hub` command to the `telehub` CLI."""

    @app.command("hub")
    def hub() -> None:
        """Take readings off the broker into PostgreSQL; evaluate rules; send alerts."""
        from psycopg_pool import PoolTimeout

        from ingest.service import run

        try:
            code = run(get_settings())
        except TelehubError as err:
            typer.secho(f"error: {err}", err=True, fg=typer.colors.RED)
            raise typer.Exit(1) from err
        except PoolTimeout as err:
            typer.secho("error: cannot reach the database (TELEHUB_DATABASE_URL); is PostgreSQL "
                        "running?", err=True, fg=typer.colors.RED)
            raise typer.Exit(1) from err
        raise typer.Exit(code)
