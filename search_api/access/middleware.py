"""Transport hygiene: request size limits and security headers (pure ASGI middleware)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_BODY_LIMIT = 64 * 1024
BODY_LIMITS: Mapping[str, int] = {"/v1/records": 10 * 1024 * 1024}
MAX_QUERY_BYTES = 8 * 1024
MAX_PATH_BYTES = 2 * 1024

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
       "form-action 'self'; frame-ancestors 'none'")
# FastAPI's interactive docs load Swagger UI / ReDoc from a CDN with an inline bootstrap script.
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: "
            "https://fastapi.tiangolo.com https://cdn.redoc.ly; worker-src 'self' blob:; "
            "object-src 'none'; base-uri 'self'; frame-ancestors 'none'")
DOCS_PATHS = ("/docs", "/redoc")


class _TooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is larger than {limit} bytes")


def body_limit_for(path: str, limits: Mapping[str, int] = BODY_LIMITS,
                   default: int = DEFAULT_BODY_LIMIT) -> int:
    for prefix, limit in limits.items():
        if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
            return limit
    return default


async def _send_json(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class RequestLimitMiddleware:
    """413 for bodies over the path's limit (declared or streamed), 414 for huge URLs."""

    def __init__(self, app: ASGIApp, limits: Mapping[str, int] = BODY_LIMITS,
                 default_limit: int = DEFAULT_BODY_LIMIT,
                 max_query_bytes: int = MAX_QUERY_BYTES) -> None:
        self.app = app
        self.limits = limits
        self.default_limit = default_limit
        self.max_query_bytes = max_query_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if (len(scope.get("query_string", b"")) > self.max_query_bytes
                or len(path.encode()) > MAX_PATH_BYTES):
            await _send_json(send, 414, "request URL is too long")
            return
        limit = body_limit_for(path, self.limits, self.default_limit)
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                await _send_json(send, 400, "bad Content-Length")
                return
            if too_big:
                await _send_json(send, 413, f"request body is larger than {limit} bytes")
                return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if started:
                raise
            await _send_json(send, 413, f"request body is larger than {limit} bytes")


class SecurityHeadersMiddleware:
    """Headers on every response; ``Cache-Control: no-store`` unless a route set its own."""

    def __init__(self, app: ASGIApp, hsts: bool = False) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        csp = DOCS_CSP if path in DOCS_PATHS or path.startswith("/docs/") else CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                headers["X-Frame-Options"] = "DENY"
                headers["Referrer-Policy"] = "no-referrer"
                headers["Cross-Origin-Opener-Policy"] = "same-origin"
                headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
                if "content-security-policy" not in headers:
                    headers["Content-Security-Policy"] = csp
                if "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
                if self.hsts:
                    headers["Strict-Transport-Security"] = "max-age=31536000"
            await send(message)

        await self.app(scope, receive, send_with_headers)
