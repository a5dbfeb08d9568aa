"""Rolling out and back: revision history, rollback, approval, blue-green and canaries.

Rollback writes a new revision copying an earlier one (history is never rewritten) and does
not wait for approval: it restores a configuration that was approved and served before.

Canaries: ``CanaryEvaluator`` (a daemon thread) looks at every active canary revision
every ``interval`` seconds and applies ``domain.rollout.decide`` to the canary's counters
in this process: hold, promote to the next step, complete (the canary becomes the primary)
or roll back. Each step is a new revision written by the system. With several replicas
each one judges the requests it served; the first to decide writes the step, and the
others see the deployment has moved on (the current revision changed) and do nothing.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from maestro_ml.auth.principal import Principal
from maestro_ml.domain.errors import AlreadyExists, Conflict, InvalidInput, PermissionDenied
from maestro_ml.domain.rollout import (
    CanaryDecision,
    CanaryPolicy,
    VariantHealth,
    decide,
    drop_canary,
    promote_canary,
    shift_weights,
)
from maestro_ml.serving.shadow import ShadowRunner
from maestro_ml.serving.variant_stats import VariantStats

from .deployments import DeploymentService, DeploymentView
from .ports import UnitOfWorkFactory
from .predictions import PredictionService
from .revisions import RevisionView, activate, add_revision, specs_of

log = logging.getLogger("maestro_ml.rollouts")

ROLLBACK_SOURCES = ("active", "superseded", "rolled_back")


class RolloutService:
    def __init__(
        self, uow: UnitOfWorkFactory, deployments: DeploymentService, serving: PredictionService
    ) -> None:
        self._uow = uow
        self._deployments = deployments
        self._serving = serving

    @property
    def stats(self) -> VariantStats:
        return self._serving.variant_stats

    @property
    def shadow(self) -> ShadowRunner:
        return self._serving.shadow

    # -- history --------------------------------------------------------------------------
    def list_revisions(self, principal: Principal, id_or_name: str) -> list[RevisionView]:
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            deployment = uow.deployments.get_by_id_or_name(id_or_name)
            rows = uow.deployment_revisions.of_deployment(deployment.id)
            return [RevisionView.of(r) for r in rows]

    def get_revision(self, principal: Principal, id_or_name: str, number: int) -> RevisionView:
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            deployment = uow.deployments.get_by_id_or_name(id_or_name)
            return RevisionView.of(uow.deployment_revisions.by_number(deployment.id, number))

    def rollback(
        self, principal: Principal, id_or_name: str, number: int | None = None,
        reason: str | None = None,
    ) -> DeploymentView:
        """Serve again what revision ``number`` (default: the one before the current) served."""
        with self._uow.for_tenant(principal.tenant_id) as uow:
            row = uow.deployments.get_by_id_or_name(id_or_name)
            current = self._current(uow, row)
            source = self._rollback_source(uow, row, current, number)
            self._deployments.warm_up_revision(uow, principal.tenant_id, source)
            revision = add_revision(
                uow, row, specs=specs_of(source), strategy=source.strategy, kind=source.kind,
                settings=dict(source.settings or {}), composite=source.composite,
                reason=reason or f"rollback to revision {source.number}",
                created_by=principal.user_id, state="active",
            )
            uow.flush()
            activate(uow, row, revision, previous_state="rolled_back")
            uow.commit()
            view = self._deployments.view(uow, row)
        self._serving.forget_route(principal.tenant_id, row.id)
        return view

    # -- approval -------------------------------------------------------------------------
    def approve(self, principal: Principal, id_or_name: str, number: int) -> DeploymentView:
        """A second user's approval: the pending revision goes live (or is staged)."""
        with self._uow.for_tenant(principal.tenant_id) as uow:
            row = uow.deployments.get_by_id_or_name(id_or_name)
            revision = self._pending(uow, row, number)
            if revision.created_by == principal.user_id:
                raise PermissionDenied(
                    f"you created revision {number}: a different user holding "
                    "deployments:approve must approve it"
                )
            self._deployments.warm_up_revision(uow, principal.tenant_id, revision)
            self._decided(revision, principal)
            if revision.strategy == "blue_green" and row.current_revision_id:
                row.staged_revision_id = revision.id
                revision.state = "staged"
            else:
                activate(uow, row, revision)
            uow.commit()
            view = self._deployments.view(uow, row)
        self._serving.forget_route(principal.tenant_id, row.id)
        return view

    def reject(self, principal: Principal, id_or_name: str, number: int) -> DeploymentView:
        with self._uow.for_tenant(principal.tenant_id) as uow:
            row = uow.deployments.get_by_id_or_name(id_or_name)
            revision = self._pending(uow, row, number)
            self._decided(revision, principal)
            revision.state = "rejected"
            uow.commit()
            return self._deployments.view(uow, row)

    # -- blue-green -----------------------------------------------------------------------
    def switch(self, principal: Principal, id_or_name: str) -> DeploymentView:
        """All traffic to the staged (warm) revision at once."""
        with self._uow.for_tenant(principal.tenant_id) as uow:
            row = uow.deployments.get_by_id_or_name(id_or_name)
            if row.staged_revision_id is None:
                raise Conflict(
                    f"deployment '{row.name}' has no staged revision: stage one with a change "
                    "using strategy 'blue_green'"
                )
            revision = uow.deployment_revisions.get(row.staged_revision_id)
            self._deployments.warm_up_revision(uow, principal.tenant_id, revision)
            activate(uow, row, revision)
            uow.commit()
            view = self._deployments.view(uow, row)
        self._serving.forget_route(principal.tenant_id, row.id)
        return view

    # -- canary ---------------------------------------------------------------------------
    def canary_status(self, principal: Principal, id_or_name: str) -> dict[str, Any]:
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            row = uow.deployments.get_by_id_or_name(id_or_name)
            current = self._current(uow, row)
            return self._canary_report(current)

    def canary_advance(self, principal: Principal, id_or_name: str) -> DeploymentView:
        """Promote the canary to its next step now, whatever its counters say."""
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            row = uow.deployments.get_by_id_or_name(id_or_name)
            current = self._current(uow, row)
            policy, weight = self._canary_of(current)
            later = [s for s in policy.steps if s > weight] or [100.0]
            step = CanaryDecision(
                "complete" if later[0] >= 100 else "promote", later[0],
                f"promoted to {later[0]:g}% by hand",
            )
        self.apply(principal.tenant_id, row.id, current.id, step, principal.user_id)
        return self._deployments.get_deployment(principal, row.id)

    def canary_abort(self, principal: Principal, id_or_name: str) -> DeploymentView:
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            row = uow.deployments.get_by_id_or_name(id_or_name)
            current = self._current(uow, row)
            self._canary_of(current)
        self.apply(
            principal.tenant_id, row.id, current.id,
            CanaryDecision("rollback", None, "canary aborted by hand"), principal.user_id,
        )
        return self._deployments.get_deployment(principal, row.id)

    def evaluate_canaries(self) -> list[tuple[str, CanaryDecision]]:
        """Judge every active canary on this process's counters; apply what is decided."""
        with self._uow.system(write=False) as uow:
            canaries = uow.deployment_revisions.active_canaries()
        applied = []
        for tenant_id, deployment_id, revision_id in canaries:
            with self._uow.for_tenant(tenant_id, write=False) as uow:
                revision = uow.deployment_revisions.find(revision_id)
                if revision is None:
                    continue
                report = self._canary_report(revision)
            decision = CanaryDecision(**report["decision"])
            if decision.action != "hold" and self.apply(
                tenant_id, deployment_id, revision_id, decision, None
            ):
                applied.append((deployment_id, decision))
        return applied

    def apply(
        self, tenant_id: str, deployment_id: str, revision_id: str, decision: CanaryDecision,
        user_id: str | None,
    ) -> bool:
        """Write the decided step as a new revision, unless the deployment moved on."""
        try:
            with self._uow.for_tenant(tenant_id) as uow:
                row = uow.deployments.get(deployment_id)
                if row.current_revision_id != revision_id:
                    return False
                current = uow.deployment_revisions.get(revision_id)
                specs, strategy, settings = specs_of(current), "canary", dict(current.settings)
                previous_state = "superseded"
                if decision.action == "rollback":
                    specs, strategy, previous_state = drop_canary(specs), "rolling", "rolled_back"
                    settings.pop("canary", None)
                elif decision.action == "complete":
                    specs, strategy = promote_canary(specs), "rolling"
                    settings.pop("canary", None)
                else:
                    specs = shift_weights(specs, float(decision.weight or 0))
                revision = add_revision(
                    uow, row, specs=specs, strategy=strategy, kind=current.kind,
                    settings=settings, composite=current.composite, reason=decision.reason,
                    created_by=user_id, state="active",
                )
                uow.flush()
                activate(uow, row, revision, previous_state=previous_state)
                uow.commit()
        except AlreadyExists:  # another replica wrote this step first
            return False
        log.info("deployment %s canary: %s (%s)", deployment_id, decision.action, decision.reason)
        self._serving.forget_route(tenant_id, deployment_id)
        self.stats.forget(revision_id)
        return True

    # -- stats ----------------------------------------------------------------------------
    def variant_report(self, principal: Principal, id_or_name: str) -> dict[str, Any]:
        """This process's counters for the current revision's variants, and the shadows'."""
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            row = uow.deployments.get_by_id_or_name(id_or_name)
            current = self._current(uow, row)
        return {
            "revision": current.number,
            "variants": [
                {**asdict(self.stats.snapshot(current.id, spec.name)), "role": spec.role,
                 "weight": spec.weight, "version": spec.version}
                for spec in specs_of(current) if spec.role != "shadow"
            ],
            "shadows": self.shadow.tallies(principal.tenant_id, row.id),
            "shadow_dropped": self.shadow.dropped,
        }

    # -- internals ------------------------------------------------------------------------
    def _canary_report(self, revision: Any) -> dict[str, Any]:
        policy, weight = self._canary_of(revision)
        canary = next(s for s in specs_of(revision) if s.role == "canary")
        snapshot = self.stats.snapshot(revision.id, canary.name)
        health = VariantHealth(snapshot.requests, snapshot.errors, snapshot.p99_ms)
        decision = decide(policy, weight, health)
        return {
            "revision": revision.number, "weight": weight, "version": canary.version,
            "policy": policy.as_json(),
            "health": {"requests": health.requests, "errors": health.errors,
                       "error_rate": health.error_rate, "p99_ms": health.p99_ms},
            "decision": {"action": decision.action, "weight": decision.weight,
                         "reason": decision.reason},
        }

    @staticmethod
    def _canary_of(revision: Any) -> tuple[CanaryPolicy, float]:
        canary = [s for s in specs_of(revision) if s.role == "canary"]
        if revision.strategy != "canary" or not canary:
            raise Conflict(f"revision {revision.number} is not rolling out a canary")
        return CanaryPolicy.of_json(revision.settings.get("canary") or {}), canary[0].weight

    @staticmethod
    def _current(uow: Any, row: Any) -> Any:
        if row.current_revision_id is None:
            raise Conflict(f"deployment '{row.name}' has no active revision yet")
        return uow.deployment_revisions.get(row.current_revision_id)

    @staticmethod
    def _rollback_source(uow: Any, row: Any, current: Any, number: int | None) -> Any:
        if number is not None:
            source = uow.deployment_revisions.by_number(row.id, number)
            if source.state not in ROLLBACK_SOURCES:
                raise InvalidInput(
                    f"revision {number} never served ({source.state}): roll back to a "
                    "revision that was active", field="revision",
                )
            return source
        for candidate in uow.deployment_revisions.of_deployment(row.id):
            if candidate.number < current.number and candidate.state in ROLLBACK_SOURCES:
                return candidate
        raise Conflict(f"deployment '{row.name}' has no earlier revision to roll back to")

    @staticmethod
    def _pending(uow: Any, row: Any, number: int) -> Any:
        revision = uow.deployment_revisions.by_number(row.id, number)
        if revision.state != "pending_approval":
            raise Conflict(f"revision {number} is {revision.state}, not awaiting approval")
        return revision

    @staticmethod
    def _decided(revision: Any, principal: Principal) -> None:
        revision.decided_by = principal.user_id
        revision.decided_at = datetime.now(UTC)


class CanaryEvaluator:
    """The background thread that judges canaries every ``interval`` seconds."""

    def __init__(self, rollouts: RolloutService, interval: float) -> None:
        self._rollouts = rollouts
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._interval <= 0 or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="canary-evaluator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._rollouts.evaluate_canaries()
            except Exception:  # a dead database must not end the loop
                log.exception("canary evaluation failed")
