"""Service level objectives: error budgets, burn rates and the multi-window alert policy.

An SLO says "``objective`` of the requests to ``target`` are good over ``window``". The
error budget is ``1 - objective``; the burn rate over a window is how fast that budget is
spent there: ``(bad / total) / (1 - objective)`` (1.0 spends exactly the budget in the SLO
window, 14.4 spends 2% of a 30-day budget in one hour).

Alerting follows the SRE Workbook's multi-window, multi-burn-rate policy: a rule fires when
the burn rate is above its factor over a long window AND a short one (the short window makes
the alert clear soon after the problem stops)::

    page    14.4 over 1h and 5m     or   6 over 6h and 30m
    ticket     3 over 1d and 2h     or   1 over 3d and 6h

The same ``POLICY`` feeds the API's computation and the generated Prometheus rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from .errors import InvalidInput


class SloKind(StrEnum):
    AVAILABILITY = "availability"
    """Good: the server did not fail (no 5xx)."""
    LATENCY = "latency"
    """Good: answered within the latency threshold."""


class Severity(StrEnum):
    OK = "ok"
    TICKET = "ticket"
    PAGE = "page"


WINDOWS: dict[str, timedelta] = {
    "5m": timedelta(minutes=5),
    "30m": timedelta(minutes=30),
    "1h": timedelta(hours=1),
    "2h": timedelta(hours=2),
    "6h": timedelta(hours=6),
    "1d": timedelta(days=1),
    "3d": timedelta(days=3),
}
"""The burn-rate windows of the policy, shortest first."""


@dataclass(frozen=True, slots=True)
class BurnRule:
    severity: Severity
    long_window: str
    short_window: str
    factor: float

    @property
    def name(self) -> str:
        return f"{self.severity.value}-{self.long_window}-{self.short_window}"


POLICY: tuple[BurnRule, ...] = (
    BurnRule(Severity.PAGE, "1h", "5m", 14.4),
    BurnRule(Severity.PAGE, "6h", "30m", 6.0),
    BurnRule(Severity.TICKET, "1d", "2h", 3.0),
    BurnRule(Severity.TICKET, "3d", "6h", 1.0),
)

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")


@dataclass(frozen=True, slots=True)
class SloDefinition:
    """One objective for one target ("api" or "deployment:<id>")."""

    name: str
    kind: SloKind
    target: str
    objective: float = 0.999
    window_days: int = 30
    latency_threshold_seconds: float | None = None

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise InvalidInput(f"SLO name '{self.name}' must be lower-case letters, digits, -._")
        check_objective(self.objective, "objective")
        if not 1 <= self.window_days <= 365:
            raise InvalidInput("window_days must be between 1 and 365")
        if self.kind is SloKind.LATENCY:
            if self.latency_threshold_seconds is None:
                raise InvalidInput("a latency SLO needs latency_threshold_seconds")
            check_threshold(self.latency_threshold_seconds)

    @property
    def error_budget(self) -> float:
        return 1.0 - self.objective

    @property
    def window(self) -> timedelta:
        return timedelta(days=self.window_days)


def check_objective(value: float, field: str) -> float:
    """An objective is a ratio strictly between 0 and 1 (0.999 = "three nines")."""
    if not 0.0 < value < 1.0:
        raise InvalidInput(f"{field} must be a ratio between 0 and 1 exclusive, e.g. 0.999")
    return value


def check_threshold(seconds: float) -> float:
    if not 0.0 < seconds <= 600.0:
        raise InvalidInput("latency_threshold_seconds must be above 0 and at most 600")
    return seconds


@dataclass(frozen=True, slots=True)
class Counts:
    """Requests seen in a window and how many of them were bad."""

    total: int = 0
    bad: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.total + other.total, self.bad + other.bad)

    @property
    def bad_ratio(self) -> float:
        return self.bad / self.total if self.total else 0.0


def burn_rate(counts: Counts, objective: float) -> float:
    """How many times faster than sustainable the budget burns (0 with no traffic)."""
    return counts.bad_ratio / (1.0 - objective)


def budget_remaining(counts: Counts, objective: float) -> float:
    """The share of the window's error budget left: 1 untouched, 0 spent, < 0 overspent."""
    return 1.0 - burn_rate(counts, objective)


@dataclass(frozen=True, slots=True)
class AlertState:
    severity: Severity
    rule: BurnRule | None = None
    """The rule that fired (the most severe one when several did)."""


def evaluate(burn_rates: Mapping[str, float], policy: Iterable[BurnRule] = POLICY) -> AlertState:
    """The alert state for the burn rate of each window; pages win over tickets."""
    fired = [
        rule for rule in policy
        if burn_rates.get(rule.long_window, 0.0) >= rule.factor
        and burn_rates.get(rule.short_window, 0.0) >= rule.factor
    ]
    for severity in (Severity.PAGE, Severity.TICKET):
        for rule in fired:
            if rule.severity is severity:
                return AlertState(severity, rule)
    return AlertState(Severity.OK)


@dataclass(frozen=True, slots=True)
class SloStatus:
    """An SLO as computed at one moment."""

    definition: SloDefinition
    budget_window: Counts
    burn_rates: dict[str, float]
    alert: AlertState

    @property
    def error_budget_remaining(self) -> float:
        return budget_remaining(self.budget_window, self.definition.objective)


def compute_status(definition: SloDefinition, windows: Mapping[str, Counts]) -> SloStatus:
    """The status of ``definition`` from the counts of every policy window and "budget"."""
    rates = {
        name: burn_rate(windows.get(name, Counts()), definition.objective) for name in WINDOWS
    }
    return SloStatus(
        definition=definition,
        budget_window=windows.get("budget", Counts()),
        burn_rates=rates,
        alert=evaluate(rates),
    )


def window_starts(now_minute: int, window_days: int) -> dict[str, int]:
    """The first minute (epoch minutes) counted by each window ending at ``now_minute``.

    A window of N minutes holds the current (partial) minute and the N-1 before it.
    """
    starts = {
        name: now_minute - int(span.total_seconds() // 60) + 1 for name, span in WINDOWS.items()
    }
    starts["budget"] = now_minute - window_days * 24 * 60 + 1
    return starts


@dataclass(frozen=True, slots=True)
class SloDefaults:
    """The platform's objectives, used where a deployment has no override."""

    window_days: int = 30
    api_availability_objective: float = 0.999
    api_latency_objective: float = 0.99
    api_latency_threshold_seconds: float = 0.5
    deployment_availability_objective: float = 0.999
    deployment_latency_objective: float = 0.99
    deployment_latency_threshold_seconds: float = 0.1

    @classmethod
    def from_settings(cls, settings: Any) -> SloDefaults:
        """From an object with ``slo_<field>`` attributes (``maestro_ml.config.Settings``)."""
        return cls(**{name: getattr(settings, f"slo_{name}") for name in cls.__slots__})


API_TARGET = "api"


def api_definitions(defaults: SloDefaults) -> tuple[SloDefinition, SloDefinition]:
    """The REST API's two platform-wide SLOs."""
    return (
        SloDefinition(
            "api-availability", SloKind.AVAILABILITY, API_TARGET,
            defaults.api_availability_objective, defaults.window_days,
        ),
        SloDefinition(
            "api-latency", SloKind.LATENCY, API_TARGET, defaults.api_latency_objective,
            defaults.window_days, defaults.api_latency_threshold_seconds,
        ),
    )


@dataclass(frozen=True, slots=True)
class DeploymentObjectives:
    """A deployment's override; None keeps the platform default."""

    availability_objective: float | None = None
    latency_objective: float | None = None
    latency_threshold_seconds: float | None = None


def deployment_definitions(
    defaults: SloDefaults, deployment_id: str, name: str,
    override: DeploymentObjectives | None = None,
) -> tuple[SloDefinition, SloDefinition]:
    """A deployment's availability and latency SLOs, named after the deployment."""
    override = override or DeploymentObjectives()
    target = f"deployment:{deployment_id}"
    return (
        SloDefinition(
            f"deployment-{name}-availability", SloKind.AVAILABILITY, target,
            _pick(override.availability_objective, defaults.deployment_availability_objective),
            defaults.window_days,
        ),
        SloDefinition(
            f"deployment-{name}-latency", SloKind.LATENCY, target,
            _pick(override.latency_objective, defaults.deployment_latency_objective),
            defaults.window_days,
            _pick(
                override.latency_threshold_seconds, defaults.deployment_latency_threshold_seconds
            ),
        ),
    )


def _pick(value: float | None, default: float) -> float:
    return default if value is None else value


def parse_slo_name(name: str) -> tuple[SloKind, str | None] | None:
    """(kind, deployment name or None for the API) from an SLO name; None if it names none."""
    for kind in SloKind:
        suffix = f"-{kind.value}"
        if not name.endswith(suffix):
            continue
        subject = name[: -len(suffix)]
        if subject == API_TARGET:
            return kind, None
        if subject.startswith("deployment-") and len(subject) > len("deployment-"):
            return kind, subject[len("deployment-"):]
    return None
