"""Rate limiting at the edge (global and IP tiers) and after authentication (tenant, key).

``RateLimitMiddleware`` (pure ASGI) classifies the request, resolves the client IP (the
socket peer; ``X-Forwarded-For`` only when the peer is a trusted proxy), applies the
pre-authentication tiers and leaves the limiter in ``scope["state"]``. ``authenticate``
calls ``enforce_principal_limits`` once the principal is known; the login route calls
``throttle_login``. Every limited response gets ``RateLimit-*`` headers for the tightest
outcome, a refusal answers 429 problem+json with ``Retry-After``.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from maestro_ml.auth.principal import Principal
from maestro_ml.auth.rate_limits import (
    POST_AUTH_TIERS,
    PRE_AUTH_TIERS,
    Decision,
    RateLimiter,
    RouteClass,
    Tier,
    classify,
)
from maestro_ml.domain.errors import RateLimited

from ..errors import problem

LIMITER = "rate_limiter"
ROUTE_CLASS = "rate_limit_class"
DECISION = "rate_limit"
CLIENT_IP = "client_ip"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class RateLimitMiddleware:
    def __init__(
        self, app: ASGIApp, limiter: RateLimiter, trusted_proxies: Iterable[str] = ()
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.trusted: tuple[Network, ...] = tuple(
            ipaddress.ip_network(cidr, strict=False) for cidr in trusted_proxies
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.limiter.enabled:
            await self.app(scope, receive, send)
            return
        cls = classify(scope["method"], scope["path"])
        if cls is None:
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        ip = client_ip(scope, self.trusted)
        state[CLIENT_IP], state[LIMITER], state[ROUTE_CLASS] = ip, self.limiter, cls
        decision = self.limiter.check(PRE_AUTH_TIERS, cls, {Tier.GLOBAL: "*", Tier.IP: ip})
        if decision is not None and not decision.allowed:
            response = problem(
                429, "Too many requests", decision.detail(), "rate_limited",
                {"Retry-After": str(decision.retry_after), **rate_limit_headers(decision)},
                tier=decision.tier, limit=decision.limit,
            )
            await response(scope, receive, send)
            return
        state[DECISION] = decision

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                final = state.get(DECISION)
                if final is not None:
                    message["headers"] = [*message.get("headers", ()), *_raw_headers(final)]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def rate_limit_headers(decision: Decision) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(decision.amount),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(max(0, math.ceil(decision.reset_after))),
    }


def _raw_headers(decision: Decision) -> tuple[tuple[bytes, bytes], ...]:
    return (
        (b"ratelimit-limit", b"%d" % decision.amount),
        (b"ratelimit-remaining", b"%d" % decision.remaining),
        (b"ratelimit-reset", b"%d" % max(0, math.ceil(decision.reset_after))),
    )


def client_ip(scope: Scope, trusted: tuple[Network, ...]) -> str:
    """The socket peer, or — when the peer is a trusted proxy — the nearest untrusted
    address in X-Forwarded-For (walking right to left past our own proxies)."""
    peer = scope["client"][0] if scope.get("client") else "unknown"
    if not trusted or not _is_trusted(peer, trusted):
        return peer
    forwarded = [
        value.decode("latin-1") for name, value in scope.get("headers", ())
        if name == b"x-forwarded-for"
    ]
    hops = [h.strip() for h in ",".join(forwarded).split(",") if h.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            return hop if _parse(hop) is not None else peer
    return hops[0] if hops else peer


def _parse(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _is_trusted(text: str, trusted: tuple[Network, ...]) -> bool:
    address = _parse(text)
    return address is not None and any(address in network for network in trusted)


def _record(state: dict[str, Any], decision: Decision) -> None:
    """Keep the outcome closest to exhaustion for the response headers."""
    current: Decision | None = state.get(DECISION)
    if current is None or not decision.allowed or decision.remaining < current.remaining:
        state[DECISION] = decision


def _refuse(decision: Decision) -> RateLimited:
    return RateLimited(decision.detail(), retry_after=decision.retry_after,
                       tier=decision.tier, limit=decision.limit)


def enforce_principal_limits(state: dict[str, Any], principal: Principal) -> None:
    """The tenant and key tiers; a no-op for exempt routes or an app without the middleware."""
    limiter: RateLimiter | None = state.get(LIMITER)
    cls: RouteClass | None = state.get(ROUTE_CLASS)
    if limiter is None or cls is None:
        return
    key = f"key:{principal.api_key_id}" if principal.api_key_id else f"user:{principal.user_id}"
    identities = {Tier.TENANT: principal.tenant_id or "-", Tier.KEY: key}
    decision = limiter.check(POST_AUTH_TIERS, cls, identities)
    if decision is not None:
        _record(state, decision)
        if not decision.allowed:
            raise _refuse(decision)


def throttle_login(state: dict[str, Any], email: str) -> None:
    """Per-account and per-IP login throttle, on top of the account lockout."""
    limiter: RateLimiter | None = state.get(LIMITER)
    if limiter is None:
        return
    decision = limiter.check_login(email, state.get(CLIENT_IP, "unknown"))
    if decision is not None:
        _record(state, decision)
        if not decision.allowed:
            raise _refuse(decision)
