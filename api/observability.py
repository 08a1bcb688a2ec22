"""Prometheus metrics of the API (one registry per app, so several apps can run in a process)."""

from __future__ import annotations

import time

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Why a sign-in is refused (the reason label of telehub_api_signin_failures).
SIGNIN_REFUSALS = ("bad-credentials", "rate-limited")


class Observability:
    """Request counters and latency histograms, labelled by route template (never by id)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("telehub_api_requests", "HTTP requests served",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("telehub_api_request_seconds", "HTTP request latency",
                                 ["method", "route"], registry=self.registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
        self.signin_failures = Counter("telehub_api_signin_failures",
                                       "Refused sign-in attempts", ["reason"],
                                       registry=self.registry)
        for reason in SIGNIN_REFUSALS:  # at 0 from the start, so the first refusal is a rise
            self.signin_failures.labels(reason)
        self.database_up = Gauge("telehub_database_up",
                                 "1 when the API's database answered at the last scrape",
                                 registry=self.registry)

    def install(self, app: FastAPI) -> None:
        """Wrap the app so every request is counted."""
        app.add_middleware(_Measure, observability=self)

    def exposition(self) -> bytes:
        """The metrics in Prometheus text format."""
        return generate_latest(self.registry)


class _Measure:
    def __init__(self, app: ASGIApp, observability: Observability) -> None:
        self.app = app
        self.obs = observability

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = str(scope.get("method", ""))
            self.obs.requests.labels(method, route, str(status)).inc()
            self.obs.latency.labels(method, route).observe(time.perf_counter() - started)
