"""`telehub hub`: run ingest, the alert notifier and the scheduler."""

from __future__ import annotations

import typer

from telehub.config import Settings, get_settings
from telehub.errors import TelehubError


def hub_settings(settings: Settings, *, client_id: str | None, shared: bool | None) -> Settings:
    """The settings with this worker's command-line overrides."""
    overrides: dict[str, object] = {}
    if client_id:
        overrides["client_id"] = client_id
    if shared is not None:
        overrides["shared"] = shared
    if not overrides:
        return settings
    return settings.model_copy(update={"ingest": settings.ingest.model_copy(update=overrides)})


def register(app: typer.Typer) -> None:
    """Add the `hub` command to the `telehub` CLI."""

    @app.command("hub")
    def hub(
        client_id: str = typer.Option(None, help="This worker's fixed MQTT client id (its "
                                      "broker session); default TELEHUB_INGEST__CLIENT_ID."),
        shared: bool = typer.Option(None, "--shared/--not-shared",
                                    help="Share the readings with other hub workers through "
                                    "$share/telehub-ingest/…; default TELEHUB_INGEST__SHARED."),
    ) -> None:
        """Take readings off the broker into PostgreSQL; evaluate rules; send alerts."""
        from psycopg_pool import PoolTimeout

        from ingest.service import run

        try:
            code = run(hub_settings(get_settings(), client_id=client_id, shared=shared))
        except TelehubError as err:
            typer.secho(f"error: {err}", err=True, fg=typer.colors.RED)
            raise typer.Exit(1) from err
        except PoolTimeout as err:
            typer.secho("error: cannot reach the database (TELEHUB_DATABASE_URL); is PostgreSQL "
                        "running?", err=True, fg=typer.colors.RED)
            raise typer.Exit(1) from err
        raise typer.Exit(code)
