"""How the API is served: the one uvicorn configuration every launch of the API uses."""

from __future__ import annotations

from typing import Any

import uvicorn

from telehub.config import ApiSettings, Settings

STARTUP_FAILURE = 3  # the exit status uvicorn.run uses when the server cannot start


def server_config(app: Any, api: ApiSettings, *, host: str | None = None,
                  port: int | None = None, **options: Any) -> uvicorn.Config:
    """uvicorn's configuration for `app`: forwarded headers only from `api.trusted_proxies`.

    uvicorn believes X-Forwarded-For from loopback by default, and every caller of a
    single-machine install comes from loopback: anyone could then choose the address the
    sign-in limit and the audit log see. So proxy headers are read only when a proxy is
    configured, and only from it.
    """
    trusted = list(api.trusted_proxies)
    return uvicorn.Config(app, host=host or api.host, port=port or api.port,
                          proxy_headers=bool(trusted), forwarded_allow_ips=trusted,
                          server_header=False, **options)


def serve(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    """Build the app for `settings` and serve it until stopped."""
    from api.main import create_app

    # No access log: request lines can carry search terms (names, NHS numbers);
    # /metrics counts requests by route instead.
    config = server_config(create_app(settings), settings.api, host=host, port=port,
                           log_config=None, access_log=False)
    server = uvicorn.Server(config)
    server.run()
    if not server.started:  # e.g. the port is taken: uvicorn has logged why
        raise SystemExit(STARTUP_FAILURE)
