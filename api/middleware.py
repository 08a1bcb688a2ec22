"""Pure ASGI middlewares: security headers, request size limits, and a last resort for
unexpected errors."""

from __future__ import annotations

import logging
import traceback

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_bytes

logger = logging.getLogger(__name__)

# Every response: patient data is never stored by a browser or a shared cache, never
# sniffed into another type, never leaks its URL (ids) to another site, never framed.
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
# HTML pages (the printable care plan): nothing but their own inline <style>; no scripts,
# images, fonts, forms or frames, and no page may frame them.
HTML_POLICY = (b"default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
               b"form-action 'none'; frame-ancestors 'none'")
# The interactive API docs load Swagger UI and ReDoc from a CDN with inline scripts: they
# keep the frame protection only.
DOCS_POLICY = b"frame-ancestors 'none'"


class SecurityHeaders:
    """Add SECURITY_HEADERS to every HTTP response, and a Content-Security-Policy to HTML.

    A header the route set itself is kept, so a route can state its own policy.
    """

    def __init__(self, app: ASGIApp, docs_paths: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.docs_paths = docs_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = DOCS_POLICY if scope.get("path") in self.docs_paths else HTML_POLICY

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                content_type = next((v for k, v in headers if k.lower() == b"content-type"),
                                    b"")
                if (content_type.startswith(b"text/html")
                        and b"content-security-policy" not in present):
                    headers.append((b"content-security-policy", policy))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)


class RequestLimits:
    """Refuse request bodies larger than `max_bytes` with 413 problem details."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await _too_large(send, self.max_bytes, scope.get("path", ""))
            return
        if length is not None:
            await self.app(scope, receive, send)
            return
        # No length given (chunked): read the body here, up to the limit, then replay it.
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            seen += len(chunks[-1])
            if seen > self.max_bytes:
                await _too_large(send, self.max_bytes, scope.get("path", ""))
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _too_large(send: Send, max_bytes: int, path: str) -> None:
    body, content_type = error_bytes(path, 413, f"Request bodies are limited to {max_bytes} "
                                     "bytes.", "too-large")
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", content_type),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class UnexpectedErrors:
    """Turn an unhandled exception into a 500 problem, logging where it happened but not its
    message (database errors quote the values they refused, which may identify a patient)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as err:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            logger.error("unhandled %s in %s %s\n%s", type(err).__name__, scope.get("method"),
                         route, "".join(traceback.format_tb(err.__traceback__)))
            if started:
                return
            body, content_type = error_bytes(scope.get("path", ""), 500, "Something went "
                                             "wrong; it has been logged.", "internal-error")
            await send({"type": "http.response.start", "status": 500,
                        "headers": [(b"content-type", content_type),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
