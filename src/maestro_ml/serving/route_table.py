"""The route table: which model version serves a deployment, cached in memory per process.

Keys are ``(tenant_id, id_or_name)``: deployment names are unique per tenant only, so the
tenant is part of every key and tenant B's key can never reach tenant A's route. A route is
stored under both the deployment's id and its name.

Entries live ``ttl_seconds`` (a few seconds): changes made by this process invalidate the
deployment's entries at once. A route in use is refreshed ahead of its expiry: past
``REFRESH_AFTER`` of its lifetime, ``claim_refresh`` answers True to exactly one caller,
who rebuilds it in the background while every request keeps the current one — so a busy
deployment's entry never lapses and its requests never miss together (a miss costs a
database read in a worker thread, and dozens of them at once stall the event loop).
With a broadcaster attached (``serving.route_invalidation``, through Redis), every other
replica drops them too within milliseconds; the lifetime stays as the safety net for a
message lost while Redis was unreachable.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from maestro_ml.domain.signature import SignatureValidator

MAX_ENTRIES = 100_000
REFRESH_AFTER = 0.8
"""Fraction of an entry's lifetime after which one caller is asked to refresh it."""
_CLAIMED = float("inf")


@dataclass(frozen=True, slots=True)
class RouteVariant:
    """One variant of the active revision: which version it serves and its share."""

    name: str
    role: str
    weight: float
    model_version_id: str
    version: int
    artifact_key: str
    validator: SignatureValidator | None


@dataclass(frozen=True, slots=True)
class Route:
    """Everything the predict path needs to know about a deployment, without the database."""

    tenant_id: str
    deployment_id: str
    deployment_name: str
    model_id: str
    model_version_id: str
    version: int
    artifact_key: str
    """The full artifact-store key of the version's directory (tenant prefix included)."""
    validator: SignatureValidator | None
    # The active revision (deployment variants): model_version_id/version/artifact_key/
    # validator above describe its primary variant.
    revision_id: str | None = None
    revision: int | None = None
    kind: str = "single"
    variants: tuple[RouteVariant, ...] = ()
    """Serving variants (traffic split), canary and challengers before the primary."""
    shadows: tuple[RouteVariant, ...] = ()
    weights: tuple[tuple[str, float], ...] = ()
    composite: dict[str, Any] | None = None
    log_sample_rate: float = 0.0
    shadow_sample_rate: float = 1.0
    shadow_tolerance: float = 1e-6
    keep_prediction_ids: bool = False


class RouteTable:
    """Thread-safe ``(tenant_id, id_or_name) -> Route`` with a time to live."""

    def __init__(
        self, ttl_seconds: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        # key -> (route, expires at, refresh due at; inf once a refresh is claimed)
        self._routes: dict[tuple[str, str], tuple[Route, float, float]] = {}
        # (tenant_id, deployment_id) -> the keys that route to it, for invalidation.
        self._keys_of: dict[tuple[str, str], set[tuple[str, str]]] = {}
        self._lock = threading.Lock()
        self._broadcast: Callable[[str, str | None, str | None], None] | None = None

    def broadcast_to(self, send: Callable[[str, str | None, str | None], None]) -> None:
        """Also tell other replicas: ``send(tenant_id, deployment_id, key)`` per change."""
        self._broadcast = send

    def get(self, tenant_id: str, id_or_name: str) -> Route | None:
        """The live route for this key, or None when absent or expired."""
        # A dict read is atomic under the GIL; the lock guards writes and multi-step changes.
        entry = self._routes.get((tenant_id, id_or_name))
        if entry is None or entry[1] <= self._clock():
            return None
        return entry[0]

    def claim_refresh(self, tenant_id: str, id_or_name: str) -> bool:
        """True for the one caller that should rebuild this live entry now (it is due)."""
        key = (tenant_id, id_or_name)
        entry = self._routes.get(key)
        if entry is None or entry[2] > self._clock():
            return False
        with self._lock:
            entry = self._routes.get(key)
            if entry is None or entry[2] > self._clock():
                return False
            self._routes[key] = (entry[0], entry[1], _CLAIMED)
            return True

    def put(self, route: Route) -> None:
        """Remember ``route`` under its deployment's id and name."""
        now = self._clock()
        expires = now + self.ttl_seconds
        refresh = now + self.ttl_seconds * REFRESH_AFTER
        keys = {(route.tenant_id, route.deployment_id), (route.tenant_id, route.deployment_name)}
        with self._lock:
            if len(self._routes) >= MAX_ENTRIES:
                self._routes.clear()
                self._keys_of.clear()
            self._drop(route.tenant_id, route.deployment_id)
            for key in keys:
                self._routes[key] = (route, expires, refresh)
            self._keys_of[(route.tenant_id, route.deployment_id)] = keys

    def invalidate(self, tenant_id: str, deployment_id: str, *, broadcast: bool = True) -> None:
        """Forget every entry that routes to this deployment (after it changed)."""
        with self._lock:
            self._drop(tenant_id, deployment_id)
        if broadcast and self._broadcast is not None:
            self._broadcast(tenant_id, deployment_id, None)

    def discard(self, tenant_id: str, id_or_name: str, *, broadcast: bool = True) -> None:
        """Forget one key (a name that now belongs to a new deployment)."""
        with self._lock:
            self._routes.pop((tenant_id, id_or_name), None)
        if broadcast and self._broadcast is not None:
            self._broadcast(tenant_id, None, id_or_name)

    def clear(self) -> None:
        with self._lock:
            self._routes.clear()
            self._keys_of.clear()

    def __len__(self) -> int:
        return len(self._routes)

    def _drop(self, tenant_id: str, deployment_id: str) -> None:
        for key in self._keys_of.pop((tenant_id, deployment_id), ()):
            entry = self._routes.get(key)
            # A name may have been reused by another deployment since: leave that one alone.
            if entry is not None and entry[0].deployment_id == deployment_id:
                del self._routes[key]
