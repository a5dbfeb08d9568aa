"""Schemas of SLOs: their computed status and a deployment's objectives."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from maestro_ml.domain.slo import SloStatus

from .common import Strict


class AlertRead(BaseModel):
    state: Literal["ok", "ticket", "page"]
    rule: str | None = Field(default=None, description="e.g. 'page-1h-5m'; null when ok")
    factor: float | None = Field(default=None, description="burn rate the rule fires at")
    long_window: str | None = None
    short_window: str | None = None


class SloRead(BaseModel):
    name: str
    kind: Literal["availability", "latency"]
    target: str = Field(description="'api' or 'deployment:<id>'")
    objective: float
    window_days: int
    latency_threshold_seconds: float | None
    total_requests: int = Field(description="requests counted in the SLO window")
    bad_requests: int
    error_budget_remaining: float = Field(description="1 untouched, 0 spent, < 0 overspent")
    burn_rates: dict[str, float] = Field(description="burn rate per window (5m ... 3d)")
    alert: AlertRead

    @classmethod
    def of(cls, status: SloStatus) -> SloRead:
        definition, rule = status.definition, status.alert.rule
        return cls(
            name=definition.name, kind=definition.kind.value, target=definition.target,
            objective=definition.objective, window_days=definition.window_days,
            latency_threshold_seconds=definition.latency_threshold_seconds,
            total_requests=status.budget_window.total, bad_requests=status.budget_window.bad,
            error_budget_remaining=status.error_budget_remaining,
            burn_rates=status.burn_rates,
            alert=AlertRead(
                state=status.alert.severity.value,
                rule=rule.name if rule else None, factor=rule.factor if rule else None,
                long_window=rule.long_window if rule else None,
                short_window=rule.short_window if rule else None,
            ),
        )


class SloPage(BaseModel):
    items: list[SloRead]
    next_cursor: str | None = None


class DeploymentSlosUpdate(Strict):
    """A deployment's objectives; an omitted or null field uses the platform default."""

    availability_objective: float | None = Field(default=None, gt=0, lt=1, examples=[0.999])
    latency_objective: float | None = Field(default=None, gt=0, lt=1, examples=[0.99])
    latency_threshold_seconds: float | None = Field(default=None, gt=0, le=600, examples=[0.1])


class DeploymentSlosRead(BaseModel):
    deployment_id: str
    deployment_name: str
    overrides: DeploymentSlosUpdate = Field(description="what this deployment overrides")
    slos: list[SloRead]
