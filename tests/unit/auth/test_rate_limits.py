"""The rate-limit policy: route classes, limits notation, rule selection, in-memory counting."""

from __future__ import annotations

import pytest

from maestro_ml.auth.rate_limit_backend import FailoverBackend, MemoryCounters
from maestro_ml.auth.rate_limits import (
    POST_AUTH_TIERS,
    PRE_AUTH_TIERS,
    RateLimiter,
    RateLimitPolicy,
    RouteClass,
    Tier,
    classify,
    parse_limits,
)
from maestro_ml.config import Settings


@pytest.mark.parametrize(("method", "path", "expected"), [
    ("POST", "/api/v1/auth/token", RouteClass.AUTH),
    ("POST", "/api/v1/auth/refresh", RouteClass.AUTH),
    ("POST", "/api/v1/auth/logout", RouteClass.WRITE),
    ("POST", "/api/v1/deployments/churn/predict", RouteClass.PREDICT),
    ("GET", "/api/v1/deployments/churn/predict", RouteClass.READ),
    ("POST", "/api/v1/runs", RouteClass.WRITE),
    ("PUT", "/api/v1/runs/abc/artifacts/model.bin", RouteClass.WRITE),
    ("PATCH", "/api/v1/models/abc", RouteClass.WRITE),
    ("DELETE", "/api/v1/models/abc", RouteClass.WRITE),
    ("GET", "/api/v1/models", RouteClass.READ),
    ("HEAD", "/api/v1/models", RouteClass.READ),
])
def test_requests_are_classified_by_method_and_path(method: str, path: str,
                                                     expected: RouteClass) -> None:
    assert classify(method, path) is expected


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"])
def test_probes_metrics_and_docs_are_exempt(path: str) -> None:
    assert classify("GET", path) is None


def test_limits_notation_parses_several_windows_and_empty_means_none() -> None:
    items = parse_limits("ip_read", "10/second;500/hour")
    assert [(i.amount, i.get_expiry()) for i in items] == [(10, 1), (500, 3600)]
    assert parse_limits("ip_read", "  ") == []


def test_malformed_limit_names_the_setting() -> None:
    with pytest.raises(ValueError, match="ip_read"):
        parse_limits("ip_read", "lots per minute")


def test_unknown_tier_or_class_fails_at_construction() -> None:
    with pytest.raises(ValueError):
        RateLimitPolicy({"planet_read": "1/second"})
    with pytest.raises(ValueError):
        RateLimitPolicy({"ip_reads": "1/second"})


def test_rules_split_into_pre_and_post_authentication_tiers() -> None:
    policy = RateLimitPolicy({
        "global_all": "1000/minute", "ip_read": "100/minute", "ip_write": "50/minute",
        "tenant_read": "500/minute", "key_read": "200/minute", "key_predict": "",
    })
    pre = policy.rules_for(PRE_AUTH_TIERS, RouteClass.READ)
    post = policy.rules_for(POST_AUTH_TIERS, RouteClass.READ)
    assert {(r.tier, r.scope, r.amount, r.expiry) for r in pre} == {
        (Tier.GLOBAL, "all", 1000, 60), (Tier.IP, "read", 100, 60)}
    assert {(r.tier, r.amount) for r in post} == {(Tier.TENANT, 500), (Tier.KEY, 200)}
    assert policy.rules_for(POST_AUTH_TIERS, RouteClass.PREDICT) == ()


def test_default_settings_build_a_policy_with_every_tier() -> None:
    policy = RateLimitPolicy.from_settings(Settings(_env_file=None))
    assert {r.tier for r in policy.rules} == set(Tier)
    login = RateLimiter.from_settings(Settings(_env_file=None)).login_rules
    assert [(rule.tier, rule.amount) for rule in login] == [
        ("login_account", 10), ("login_ip", 30)]


def test_a_limiter_names_the_tiers_of_its_rules_once_each() -> None:
    limiter = make_limiter(ip_read="3/hour", ip_write="1/hour", key_all="9/hour")
    assert limiter.tiers == ("ip", "key", "login_account", "login_ip")
    assert make_limiter(global_all="").tiers == ("login_account", "login_ip")


def make_limiter(**limits: str) -> RateLimiter:
    return RateLimiter(RateLimitPolicy(limits), backend=FailoverBackend(None),
                       login_account="2/hour", login_ip="3/hour")


def test_limiter_refuses_after_the_budget_and_counts_rejections_by_tier() -> None:
    limiter = make_limiter(ip_read="3/hour", global_all="100/hour")
    ids = {Tier.GLOBAL: "*", Tier.IP: "10.0.0.1"}
    outcomes = [limiter.check(PRE_AUTH_TIERS, RouteClass.READ, ids) for _ in range(4)]
    assert [d.allowed for d in outcomes if d] == [True, True, True, False]
    assert [d.remaining for d in outcomes if d] == [2, 1, 0, 0]
    refused = outcomes[-1]
    assert refused is not None and refused.tier == "ip" and refused.amount == 3
    assert 1 <= refused.retry_after <= 3600
    assert "ip tier" in refused.detail() and "3 per 1 hour" in refused.detail()
    assert limiter.rejections == {"ip": 1}
    other = limiter.check(PRE_AUTH_TIERS, RouteClass.READ, {**ids, Tier.IP: "10.0.0.2"})
    assert other is not None and other.allowed


def test_login_throttle_normalises_the_account_email() -> None:
    limiter = make_limiter()
    first = limiter.check_login("Ann@Example.com", "10.0.0.1")
    second = limiter.check_login(" ann@example.com ", "10.0.0.2")
    third = limiter.check_login("ANN@example.com", "10.0.0.3")
    assert first and first.allowed and second and second.allowed
    assert third is not None and not third.allowed and third.tier == "login_account"


def test_disabled_limiter_decides_nothing() -> None:
    limiter = RateLimiter(RateLimitPolicy({"ip_read": "1/minute"}), enabled=False,
                          backend=FailoverBackend(None))
    ids = {Tier.GLOBAL: "*", Tier.IP: "x"}
    assert [limiter.check(PRE_AUTH_TIERS, RouteClass.READ, ids) for _ in range(3)] == [None] * 3


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_memory_counters_weight_the_previous_window_as_it_slides_out() -> None:
    clock = FakeClock(6000.0)  # the start of a 60 s window
    counters = MemoryCounters(clock)
    assert [counters.acquire_sliding_window_entry("k", 4, 60) for _ in range(5)] == [
        True, True, True, True, False]
    clock.now += 60 + 15  # next window, a quarter in: the previous 4 still weigh 3
    assert counters.acquire_sliding_window_entry("k", 4, 60)
    assert not counters.acquire_sliding_window_entry("k", 4, 60)
    previous, previous_ttl, current, _ = counters.get_sliding_window("k", 60)
    assert (previous, previous_ttl, current) == (4, 45.0, 1)
    clock.now += 120  # two windows later nothing weighs
    assert counters.get_sliding_window("k", 60)[0::2] == (0, 0)


def test_memory_counters_forget_idle_keys_on_the_periodic_sweep() -> None:
    clock = FakeClock(6000.0)
    counters = MemoryCounters(clock)
    counters.acquire_sliding_window_entry("idle", 4, 60)
    clock.now += 600
    counters.acquire_sliding_window_entry("busy", 4, 60)
    assert len(counters) == 1
    assert counters.get_sliding_window("busy", 60)[2] == 1


def test_backend_without_redis_counts_in_memory() -> None:
    backend = FailoverBackend(None)
    assert backend.active == "memory"
    assert [backend.acquire("x|1", 1, 60) for _ in range(2)] == [True, False]
