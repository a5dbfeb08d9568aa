"""Rate-limit policy and limiter: four tiers (global, tenant, key, IP) per route class.

The policy is pure: it parses ``limits`` notation ("20/minute", "1000/hour;50/second") from
the settings into rules keyed by (tier, route class), and ``classify`` maps a request to a
class (or to None for probes and docs, which are never limited). ``RateLimiter`` applies
the rules with a sliding-window counter — O(1) per hit — over ``FailoverBackend``, which
uses Redis when configured and in-process memory while Redis is unreachable.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from limits import RateLimitItem, parse_many

from maestro_ml.observability.metrics import observe_rate_limit_rejection

from .rate_limit_backend import FailoverBackend

if TYPE_CHECKING:
    from maestro_ml.config import Settings

log = logging.getLogger("maestro_ml.rate_limits")


class Tier(StrEnum):
    GLOBAL = "global"
    TENANT = "tenant"
    KEY = "key"  # the API key when the caller used one, else the user
    IP = "ip"


class RouteClass(StrEnum):
    AUTH = "auth"  # login and token refresh
    PREDICT = "predict"
    WRITE = "write"
    READ = "read"


ALL = "all"  # a rule under this name counts every class together
PRE_AUTH_TIERS = (Tier.GLOBAL, Tier.IP)
POST_AUTH_TIERS = (Tier.TENANT, Tier.KEY)
EXEMPT_PATHS = frozenset(
    {"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect",
     "/redoc"}
)
AUTH_PATHS = frozenset({"/api/v1/auth/token", "/api/v1/auth/refresh"})
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def classify(method: str, path: str) -> RouteClass | None:
    """The route class of a request, or None when it is exempt from every limit."""
    if path in EXEMPT_PATHS:
        return None
    if path in AUTH_PATHS:
        return RouteClass.AUTH
    if method == "POST" and path.endswith(("/predict", "/infer")):
        return RouteClass.PREDICT
    return RouteClass.READ if method in READ_METHODS else RouteClass.WRITE


@dataclass(frozen=True, slots=True)
class Rule:
    """One limit of one tier; every field a request needs is computed once, here."""

    tier: str  # a Tier value, or "login_account" / "login_ip"
    scope: str  # a RouteClass value, or ALL
    amount: int
    expiry: int  # window length, seconds
    text: str  # for messages: "20 per 1 minute"
    prefix: str  # counter key prefix; the identity is appended per request

    @classmethod
    def of(cls, tier: str, scope: str, item: RateLimitItem) -> Rule:
        expiry = item.get_expiry()
        prefix = f"{tier}/{scope}/{item.amount}/{expiry}|"
        return cls(str(tier), str(scope), item.amount, expiry, str(item), prefix)

    @property
    def per_second(self) -> float:
        return self.amount / self.expiry


def parse_limits(name: str, value: str) -> list[RateLimitItem]:
    """``"20/minute;500/hour"`` → items; empty means "no limit"; bad text names the setting."""
    if not value.strip():
        return []
    try:
        return list(parse_many(value))
    except ValueError as exc:
        raise ValueError(
            f"rate limit '{name}' = {value!r} is not in limits notation (e.g. '20/minute'): {exc}"
        ) from exc


class RateLimitPolicy:
    """Rules by (tier, class), precomputed so a request looks up a tuple, never parses."""

    def __init__(self, limits: Mapping[str, str]) -> None:
        rules: list[Rule] = []
        for name, value in limits.items():
            tier_name, _, scope = name.partition("_")
            tier = Tier(tier_name)
            if scope != ALL:
                RouteClass(scope)  # a typo in a rule name must fail at startup
            for item in parse_limits(name, value):
                rules.append(Rule.of(tier.value, scope, item))
        self.rules = tuple(rules)
        self._by_class = {
            (tiers, cls): tuple(r for r in rules if r.tier in tiers and r.scope in (cls, ALL))
            for tiers in (PRE_AUTH_TIERS, POST_AUTH_TIERS)
            for cls in RouteClass
        }

    def rules_for(self, tiers: tuple[Tier, ...], cls: RouteClass) -> tuple[Rule, ...]:
        return self._by_class[(tiers, cls)]

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimitPolicy:
        prefix = "rate_limit_"
        names = (f"{t}_{c}" for t in Tier for c in (ALL, *RouteClass))
        return cls({n: getattr(settings, prefix + n) for n in names
                    if hasattr(settings, prefix + n)})


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome for the tightest rule that applied (or the rule that refused)."""

    allowed: bool
    tier: str
    limit: str
    amount: int
    remaining: int
    reset_after: float  # seconds until the window frees a slot / resets

    @property
    def retry_after(self) -> int:  # whole seconds, at least 1 (RFC 9110 delay-seconds)
        return max(1, math.ceil(self.reset_after))

    def detail(self) -> str:
        return (f"rate limit exceeded for the {self.tier} tier ({self.limit}); "
                f"retry in {self.retry_after} s")


class RateLimiter:
    """Counts hits against the policy; ``rejections`` counts refusals by tier."""

    def __init__(
        self, policy: RateLimitPolicy, *, enabled: bool = True,
        login_account: str = "", login_ip: str = "", backend: FailoverBackend,
    ) -> None:
        self.policy = policy
        self.enabled = enabled
        self.backend = backend
        self.login_rules = tuple(
            Rule.of(name, RouteClass.AUTH.value, item)
            for name, value in (("login_account", login_account), ("login_ip", login_ip))
            for item in parse_limits(name, value)
        )
        self.rejections: dict[str, int] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        backend = FailoverBackend(settings.redis_url, settings.rate_limit_redis_probe_seconds)
        return cls(
            RateLimitPolicy.from_settings(settings), enabled=settings.rate_limit_enabled,
            login_account=settings.rate_limit_login_account,
            login_ip=settings.rate_limit_login_ip, backend=backend,
        )

    @property
    def tiers(self) -> tuple[str, ...]:
        """The tiers of every rule this limiter applies, login rules included."""
        rules = (*self.policy.rules, *self.login_rules)
        return tuple(dict.fromkeys(rule.tier for rule in rules))

    def check(
        self, tiers: tuple[Tier, ...], cls: RouteClass, identities: Mapping[Tier, str]
    ) -> Decision | None:
        """Hit every rule of ``tiers`` for ``cls``; the refusal, or the tightest outcome."""
        if not self.enabled:
            return None
        return self._apply((r, identities[r.tier]) for r in self.policy.rules_for(tiers, cls))

    def check_login(self, email: str, ip: str) -> Decision | None:
        """Throttle a login attempt per account (normalised email) and per client IP."""
        if not self.enabled:
            return None
        who = {"login_account": email.strip().lower(), "login_ip": ip}
        return self._apply((r, who[r.tier]) for r in self.login_rules)

    def _apply(self, hits: Iterable[tuple[Rule, str]]) -> Decision | None:
        tightest: tuple[Rule, str] | None = None
        acquire = self.backend.acquire
        for rule, identity in hits:
            if not acquire(rule.prefix + identity, rule.amount, rule.expiry):
                self.rejections[rule.tier] = self.rejections.get(rule.tier, 0) + 1
                observe_rate_limit_rejection(rule.tier)
                return self._decision(False, rule, identity)
            if tightest is None or rule.per_second < tightest[0].per_second:
                tightest = (rule, identity)
        if tightest is None:
            return None
        # One window read, for the rule with the smallest rate: it is the one a client
        # meets first, and reading every rule would double the storage round trips.
        return self._decision(True, *tightest)

    def _decision(self, allowed: bool, rule: Rule, identity: str) -> Decision:
        previous, previous_ttl, current, current_ttl = self.backend.window(
            rule.prefix + identity, rule.expiry
        )
        expiry = rule.expiry
        used = math.floor(previous * previous_ttl / expiry + current)
        remaining = max(0, rule.amount - used) if allowed else 0
        # As limits' SlidingWindowCounterRateLimiter.get_window_stats: the soonest moment a
        # hit leaves the weighted count (a previous-window hit fading, or the window ending).
        reset_after = math.inf
        if previous:
            reset_after = previous_ttl % (expiry / previous)
        if current:
            reset_after = min(reset_after, current_ttl % expiry)
        if math.isinf(reset_after):
            reset_after = 0.0
        return Decision(allowed, rule.tier, rule.text, rule.amount, remaining, reset_after)
