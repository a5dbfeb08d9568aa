"""Security response headers, trusted-host checking and CORS: the outer shell of the app.

``SecurityHeadersMiddleware`` adds a precomputed header list to every response — errors,
404s and 413s from inner middleware included (``install_security`` wraps it around
Starlette's ServerErrorMiddleware so 500s get them too). The JSON API gets a CSP that
allows nothing; ``/docs`` and ``/redoc`` get a relaxed CSP that allows only the CDN
FastAPI's Swagger UI and ReDoc pages load from (cdn.jsdelivr.net, plus Google Fonts for
ReDoc) and their inline bootstrap script. A header a route set itself wins.

``TrustedHostMiddleware`` is Starlette's host check (DNS-rebinding defence) answering
problem+json; ``install_security`` adds Starlette's CORSMiddleware only when origins are
configured.
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson
from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from maestro_ml.config import Settings

API_CSP = "default-src 'none'; frame-ancestors 'none'"
DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com "
    "https://cdn.redoc.ly https://cdn.jsdelivr.net; connect-src 'self'; worker-src blob:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=(), interest-cohort=()"
)
CORS_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
CORS_HEADERS = ["Authorization", "Content-Type", "X-Request-ID"]


def _encode(pairs: Iterable[tuple[str, str]]) -> tuple[tuple[bytes, bytes], ...]:
    return tuple((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in pairs)


class SecurityHeadersMiddleware:
    """Append the security headers to every HTTP response start (pure ASGI, precomputed)."""

    def __init__(self, app: ASGIApp, *, hsts_seconds: int, hsts_always: bool) -> None:
        self.app = app
        common = [
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "DENY"),
            ("Referrer-Policy", "no-referrer"),
            ("Cross-Origin-Opener-Policy", "same-origin"),
            ("Cross-Origin-Resource-Policy", "same-origin"),
            ("Permissions-Policy", PERMISSIONS_POLICY),
        ]
        self.api_headers = _encode([*common, ("Content-Security-Policy", API_CSP)])
        self.docs_headers = _encode([*common, ("Content-Security-Policy", DOCS_CSP)])
        self.hsts = _encode([("Strict-Transport-Security", f"max-age={hsts_seconds}")])
        if hsts_seconds <= 0:
            self.hsts = ()
        self.hsts_always = hsts_always

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        extra = self.docs_headers if path in DOCS_PATHS else self.api_headers
        if self.hsts and (self.hsts_always or scope.get("scheme") == "https"):
            extra = extra + self.hsts

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [p for p in message.get("headers", ()) if p[0].lower() != b"server"]
                present = {name.lower() for name, _ in headers}
                headers.extend([pair for pair in extra if pair[0] not in present])
                message["headers"] = headers  # the sender's message, as Starlette's own do
            await send(message)

        await self.app(scope, receive, send_with_headers)


class TrustedHostMiddleware:
    """Refuse a request whose Host header is not an allowed host (400 problem+json).

    Same matching as Starlette's TrustedHostMiddleware (``*`` allows all, ``*.example.com``
    allows subdomains), but the host is read correctly for IPv6 literals (``[::1]:8000``).
    """

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str]) -> None:
        self.app = app
        hosts = [host.lower() for host in allowed_hosts]
        self.allow_any = "*" in hosts
        self.exact = frozenset(host for host in hosts if not host.startswith("*."))
        self.suffixes = tuple(host[1:] for host in hosts if host.startswith("*."))

    def allowed(self, host: str) -> bool:
        return host in self.exact or (bool(self.suffixes) and host.endswith(self.suffixes))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.allow_any or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = b""
        for name, value in scope.get("headers", ()):
            if name == b"host":
                raw = value
                break
        host = host_of(raw.decode("latin-1"))
        if self.allowed(host):
            await self.app(scope, receive, send)
            return
        body = orjson.dumps({
            "type": "https://maestro-ml.dev/problems/invalid_host",
            "title": "Invalid host", "status": 400, "code": "invalid_host",
            "detail": "the Host header names a host this server does not serve; "
                      "add it to MAESTRO_ALLOWED_HOSTS if it is legitimate",
            "setting": "MAESTRO_ALLOWED_HOSTS",
        })
        await send({
            "type": "http.response.start", "status": 400,
            "headers": [(b"content-type", b"application/problem+json"),
                        (b"content-length", str(len(body)).encode())],
        })
        await send({"type": "http.response.body", "body": body})


def host_of(header: str) -> str:
    """The host part of a Host header, lower-cased: ``[::1]:8000`` → ``[::1]``."""
    header = header.strip().lower()
    if header.startswith("["):
        end = header.find("]")
        return header[: end + 1] if end > 0 else header
    return header.split(":", 1)[0]


def install_security(app: FastAPI, settings: Settings) -> None:
    """Add CORS (when configured) and the host check, then make the headers outermost.

    Call last in ``create_app``: middleware added later wraps middleware added earlier.
    """
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=list(settings.cors_origins), allow_credentials=False,
            allow_methods=CORS_METHODS, allow_headers=CORS_HEADERS, max_age=600,
        )
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.resolved_allowed_hosts)
    build_stack = app.build_middleware_stack

    # Starlette puts ServerErrorMiddleware (which answers 500s) outside every user
    # middleware; wrapping the built stack puts the headers on 500 responses too.
    def build_with_headers() -> ASGIApp:
        return SecurityHeadersMiddleware(
            build_stack(), hsts_seconds=settings.hsts_seconds, hsts_always=settings.hsts_always
        )

    app.build_middleware_stack = build_with_headers  # type: ignore[method-assign]
