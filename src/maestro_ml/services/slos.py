"""SLOs computed on read from the platform's own request records.

The API's SLOs are platform-wide, so only a platform admin sees them; every member of a
tenant sees the SLOs of that tenant's deployments. Objectives come from the platform
defaults, overridden per deployment (``PUT /api/v1/slos/deployments/{id_or_name}``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from maestro_ml.auth.principal import Principal
from maestro_ml.domain.errors import NotFound
from maestro_ml.domain.slo import (
    Counts,
    DeploymentObjectives,
    SloDefaults,
    SloDefinition,
    SloKind,
    SloStatus,
    api_definitions,
    check_objective,
    check_threshold,
    compute_status,
    deployment_definitions,
    parse_slo_name,
    window_starts,
)

from .ports import UnitOfWorkFactory

WindowSums = Mapping[str, tuple[int, int, int]]


@dataclass(frozen=True, slots=True)
class DeploymentSlos:
    """A deployment's override and the SLOs it yields."""

    deployment_id: str
    deployment_name: str
    objectives: DeploymentObjectives
    statuses: tuple[SloStatus, ...]


@dataclass(frozen=True, slots=True)
class TenantSlo:
    """An SLO with the tenant it belongs to (None for the API's), for the gauges."""

    tenant: str | None
    status: SloStatus


def status_from_sums(definition: SloDefinition, sums: WindowSums) -> SloStatus:
    """Availability counts 5xx as bad; latency counts requests above the threshold."""
    column = 1 if definition.kind is SloKind.AVAILABILITY else 2
    counts = {name: Counts(values[0], values[column]) for name, values in sums.items()}
    return compute_status(definition, counts)


class SloService:
    def __init__(
        self, uow: UnitOfWorkFactory, defaults: SloDefaults,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._uow = uow
        self.defaults = defaults
        self.clock = clock

    def _starts(self) -> dict[str, int]:
        return window_starts(int(self.clock() // 60), self.defaults.window_days)

    # -- reading --------------------------------------------------------------------------

    def list_slos(
        self, principal: Principal, *, limit: int, cursor: str | None = None
    ) -> tuple[list[SloStatus], str | None]:
        """The API's SLOs (platform admins, first page) then the tenant's deployments'."""
        statuses: list[SloStatus] = []
        if cursor is None and principal.is_platform_admin:
            statuses.extend(self.api_statuses())
        starts = self._starts()
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            page = uow.deployments.list(limit=limit, cursor=cursor)
            ids = [row.id for row in page.items]
            sums = uow.slos.deployment_windows(starts, ids)
            overrides = {row.deployment_id: _objectives(row) for row in uow.slos.overrides(ids)}
        for row in page.items:
            window = sums.get((principal.tenant_id, row.id), {})
            for definition in deployment_definitions(
                self.defaults, row.id, row.name, overrides.get(row.id)
            ):
                statuses.append(status_from_sums(definition, window))
        return statuses, page.next_cursor

    def get_slo(self, principal: Principal, name: str) -> SloStatus:
        parsed = parse_slo_name(name)
        if parsed is None:
            raise NotFound.of("SLO", name)
        kind, deployment = parsed
        if deployment is None:
            if not principal.is_platform_admin:  # platform-wide: not a tenant's to see
                raise NotFound.of("SLO", name)
            return next(s for s in self.api_statuses() if s.definition.kind is kind)
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            row = uow.deployments.find_by_name(deployment)
            if row is None:
                raise NotFound.of("SLO", name)
        found = self.deployment_slos(principal, row.id)
        return next(s for s in found.statuses if s.definition.kind is kind)

    def api_statuses(self) -> list[SloStatus]:
        with self._uow.system(write=False) as uow:
            sums = uow.slos.api_windows(self._starts())
        return [status_from_sums(d, sums) for d in api_definitions(self.defaults)]

    def deployment_slos(self, principal: Principal, id_or_name: str) -> DeploymentSlos:
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            row = uow.deployments.get_by_id_or_name(id_or_name)
            override = uow.slos.get_override(row.id)
            sums = uow.slos.deployment_windows(self._starts(), [row.id])
            objectives = _objectives(override) if override else DeploymentObjectives()
            deployment_id, name = row.id, row.name
        window = sums.get((principal.tenant_id, deployment_id), {})
        definitions = deployment_definitions(self.defaults, deployment_id, name, objectives)
        return DeploymentSlos(
            deployment_id, name, objectives,
            tuple(status_from_sums(d, window) for d in definitions),
        )

    # -- writing --------------------------------------------------------------------------

    def set_deployment_objectives(
        self, principal: Principal, id_or_name: str, objectives: DeploymentObjectives
    ) -> DeploymentSlos:
        """Replace a deployment's override (a None field goes back to the default)."""
        for field in ("availability_objective", "latency_objective"):
            value = getattr(objectives, field)
            if value is not None:
                check_objective(value, field)
        if objectives.latency_threshold_seconds is not None:
            check_threshold(objectives.latency_threshold_seconds)
        with self._uow.for_tenant(principal.tenant_id) as uow:
            row = uow.deployments.get_by_id_or_name(id_or_name)
            uow.slos.put_override(
                row.id,
                availability_objective=objectives.availability_objective,
                latency_objective=objectives.latency_objective,
                latency_threshold_seconds=objectives.latency_threshold_seconds,
            )
            uow.commit()
            deployment_id = row.id
        return self.deployment_slos(principal, deployment_id)

    # -- platform-wide views (gauges, the recorder's thresholds) --------------------------

    def all_statuses(self) -> list[TenantSlo]:
        """Every SLO of the platform, for the Prometheus gauges (system session)."""
        starts = self._starts()
        with self._uow.system(write=False) as uow:
            api_sums = uow.slos.api_windows(starts)
            sums = uow.slos.deployment_windows(starts)
            overrides = {row.deployment_id: _objectives(row) for row in uow.slos.overrides()}
            tenants = uow.slos.tenant_names()
            deployments = uow.slos.deployment_names()
        found = [TenantSlo(None, status_from_sums(d, api_sums)) for d in api_definitions(
            self.defaults
        )]
        for tenant_id, deployment_id, name in deployments:
            window = sums.get((tenant_id, deployment_id), {})
            for definition in deployment_definitions(
                self.defaults, deployment_id, name, overrides.get(deployment_id)
            ):
                found.append(TenantSlo(tenants.get(tenant_id, tenant_id),
                                       status_from_sums(definition, window)))
        return found

    def earliest_api_key_expiry(self) -> float | None:
        """Unix time the first active API key of the platform expires, or None."""
        now = datetime.fromtimestamp(self.clock(), UTC)
        with self._uow.system(write=False) as uow:
            found = uow.slos.earliest_api_key_expiry(now)
        return found.timestamp() if found is not None else None

    def latency_thresholds(self) -> dict[tuple[str, str], float]:
        """Overridden thresholds keyed by (tenant, id) and (tenant, name), for the recorder."""
        with self._uow.system(write=False) as uow:
            overrides = {
                row.deployment_id: row.latency_threshold_seconds
                for row in uow.slos.overrides() if row.latency_threshold_seconds is not None
            }
            rows = [
                names for names in uow.slos.deployment_names() if names[1] in overrides
            ] if overrides else []
        thresholds: dict[tuple[str, str], float] = {}
        for tenant_id, deployment_id, name in rows:
            thresholds[(tenant_id, deployment_id)] = overrides[deployment_id]
            thresholds[(tenant_id, name)] = overrides[deployment_id]
        return thresholds


def _objectives(row: Any) -> DeploymentObjectives:
    return DeploymentObjectives(
        row.availability_objective, row.latency_objective, row.latency_threshold_seconds
    )
