"""Deployment revisions and rollouts as pure rules: what a valid revision is, and what a
canary does next given how its variant behaved.

A revision holds variants: exactly one ``primary``, at most one ``canary``, any number of
``challenger`` (A/B arms) and ``shadow`` variants. Serving variants (all but shadows) split
the traffic by weight, in percent, summing to 100; shadows get a copy of requests and carry
no weight.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .errors import InvalidInput

ROLES = ("primary", "canary", "challenger", "shadow")
STRATEGIES = ("rolling", "blue_green", "canary", "ab_test")
KINDS = ("single", "ensemble", "chain")
STATES = ("pending_approval", "active", "staged", "superseded", "rolled_back", "rejected")
DEFAULT_CANARY_STEPS = (5.0, 25.0, 50.0, 100.0)
MAX_VARIANTS = 10


@dataclass(frozen=True)
class VariantSpec:
    name: str
    model_version_id: str
    version: int
    role: str
    weight: float
    model_id: str | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name, "model_id": self.model_id,
            "model_version_id": self.model_version_id, "version": self.version,
            "role": self.role, "weight": self.weight,
        }

    @classmethod
    def of_json(cls, data: dict[str, object]) -> VariantSpec:
        return cls(
            name=str(data["name"]), model_version_id=str(data["model_version_id"]),
            version=int(data["version"]), role=str(data["role"]),  # type: ignore[call-overload]
            weight=float(data["weight"]),  # type: ignore[arg-type]
            model_id=data.get("model_id"),  # type: ignore[arg-type]
        )


def check_variants(variants: Sequence[VariantSpec]) -> None:
    """Refuse (InvalidInput, field ``variants``) a set of variants that cannot serve."""
    if not variants:
        raise InvalidInput("a deployment needs at least one variant", field="variants")
    if len(variants) > MAX_VARIANTS:
        raise InvalidInput(f"at most {MAX_VARIANTS} variants", field="variants")
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise InvalidInput("variant names must be unique", field="variants")
    for variant in variants:
        if variant.role not in ROLES:
            raise InvalidInput(
                f"variant {variant.name!r}: role must be one of {', '.join(ROLES)}",
                field="variants",
            )
        if not 0 <= variant.weight <= 100:
            raise InvalidInput(
                f"variant {variant.name!r}: weight must be between 0 and 100 (percent)",
                field="variants",
            )
        if variant.role == "shadow" and variant.weight != 0:
            raise InvalidInput(
                f"shadow variant {variant.name!r} gets copies of requests: its weight must be 0",
                field="variants",
            )
    roles = [v.role for v in variants]
    if roles.count("primary") != 1:
        raise InvalidInput("exactly one variant must have the role 'primary'", field="variants")
    if roles.count("canary") > 1:
        raise InvalidInput("at most one variant may have the role 'canary'", field="variants")
    total = sum(v.weight for v in variants if v.role != "shadow")
    if abs(total - 100.0) > 1e-6:
        raise InvalidInput(
            f"the weights of the serving variants must sum to 100, not {total:g}",
            field="variants",
        )


@dataclass(frozen=True)
class CanaryPolicy:
    """Progressive steps (canary weight in percent) and the health bar of each step."""

    steps: tuple[float, ...] = DEFAULT_CANARY_STEPS
    max_error_rate: float = 0.01
    max_p99_ms: float = 500.0
    min_requests: int = 100

    def as_json(self) -> dict[str, object]:
        return {
            "steps": list(self.steps), "max_error_rate": self.max_error_rate,
            "max_p99_ms": self.max_p99_ms, "min_requests": self.min_requests,
        }

    @classmethod
    def of_json(cls, data: dict[str, object]) -> CanaryPolicy:
        policy = cls(
            steps=tuple(float(s) for s in data.get("steps") or DEFAULT_CANARY_STEPS),  # type: ignore[union-attr]
            max_error_rate=float(data.get("max_error_rate", 0.01)),  # type: ignore[arg-type]
            max_p99_ms=float(data.get("max_p99_ms", 500.0)),  # type: ignore[arg-type]
            min_requests=int(data.get("min_requests", 100)),  # type: ignore[call-overload]
        )
        policy.check()
        return policy

    def check(self) -> None:
        steps = self.steps
        if not steps or any(not 0 < s <= 100 for s in steps):
            raise InvalidInput("canary steps must be percentages in (0, 100]", field="canary")
        if any(b <= a for a, b in zip(steps, steps[1:], strict=False)):
            raise InvalidInput("canary steps must increase", field="canary")
        if steps[-1] != 100:
            raise InvalidInput("the last canary step must be 100", field="canary")
        if not 0 <= self.max_error_rate <= 1:
            raise InvalidInput("max_error_rate must be between 0 and 1", field="canary")
        if self.max_p99_ms <= 0:
            raise InvalidInput("max_p99_ms must be positive", field="canary")
        if not 1 <= self.min_requests <= 1_000_000:
            raise InvalidInput("min_requests must be between 1 and 1000000", field="canary")


@dataclass(frozen=True)
class VariantHealth:
    """What one variant did since its revision became active."""

    requests: int
    errors: int
    p99_ms: float | None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class CanaryDecision:
    action: str
    """'hold' (not enough requests yet), 'promote' (to ``weight``), 'complete' (the canary
    becomes the primary) or 'rollback' (the canary is removed)."""
    weight: float | None
    reason: str


def decide(policy: CanaryPolicy, current_weight: float, health: VariantHealth) -> CanaryDecision:
    """What the canary at ``current_weight`` percent does next.

    Unhealthy is judged as soon as the errors alone exceed the bar for ``min_requests``
    (so a broken canary is pulled back without waiting), otherwise after ``min_requests``.
    """
    budget = policy.max_error_rate * policy.min_requests
    if health.errors > budget and health.requests:
        return CanaryDecision(
            "rollback", None,
            f"canary error rate {health.error_rate:.1%} over {health.requests} requests "
            f"exceeds {policy.max_error_rate:.1%}",
        )
    if health.requests < policy.min_requests:
        return CanaryDecision(
            "hold", current_weight,
            f"{health.requests} of {policy.min_requests} requests observed at {current_weight:g}%",
        )
    if health.error_rate > policy.max_error_rate:
        return CanaryDecision(
            "rollback", None,
            f"canary error rate {health.error_rate:.1%} exceeds {policy.max_error_rate:.1%}",
        )
    if health.p99_ms is not None and health.p99_ms > policy.max_p99_ms:
        return CanaryDecision(
            "rollback", None,
            f"canary p99 latency {health.p99_ms:.1f} ms exceeds {policy.max_p99_ms:g} ms",
        )
    later = [step for step in policy.steps if step > current_weight]
    if not later or later[0] >= 100:
        return CanaryDecision("complete", 100.0, f"healthy at {current_weight:g}%: promoted")
    return CanaryDecision(
        "promote", later[0], f"healthy at {current_weight:g}%: promoted to {later[0]:g}%"
    )


def shift_weights(variants: Sequence[VariantSpec], canary_weight: float) -> list[VariantSpec]:
    """The variants with the canary at ``canary_weight`` and the primary taking the rest."""
    others = sum(v.weight for v in variants if v.role == "challenger")
    result = []
    for variant in variants:
        if variant.role == "canary":
            variant = _with_weight(variant, canary_weight)
        elif variant.role == "primary":
            variant = _with_weight(variant, max(0.0, 100.0 - canary_weight - others))
        result.append(variant)
    return result


def promote_canary(variants: Sequence[VariantSpec]) -> list[VariantSpec]:
    """The canary becomes the primary with all the traffic; the old primary leaves."""
    result = []
    for variant in variants:
        if variant.role == "primary":
            continue
        if variant.role == "canary":
            variant = VariantSpec(
                variant.name, variant.model_version_id, variant.version, "primary", 100.0,
                variant.model_id,
            )
        elif variant.role == "challenger":
            variant = _with_weight(variant, 0.0)
        result.append(variant)
    return [v for v in result if v.role == "primary" or v.role == "shadow" or v.weight > 0]


def drop_canary(variants: Sequence[VariantSpec]) -> list[VariantSpec]:
    """The variants without the canary; the primary takes its traffic back."""
    kept = [v for v in variants if v.role != "canary"]
    others = sum(v.weight for v in kept if v.role == "challenger")
    return [
        _with_weight(v, 100.0 - others) if v.role == "primary" else v for v in kept
    ]


def _with_weight(variant: VariantSpec, weight: float) -> VariantSpec:
    return VariantSpec(
        variant.name, variant.model_version_id, variant.version, variant.role, weight,
        variant.model_id,
    )
