"""The one wiring point: Settings -> engine -> units of work -> services -> app.

``build_container(settings)`` creates everything a process needs; ``create_app`` (server)
and the CLI commands take what they need from the container. Nothing here runs at import.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine, text

from maestro_ml.auth.tokens import TokenConfig
from maestro_ml.config import Settings
from maestro_ml.services.identity import BootstrapResult, IdentityService
from maestro_ml.storage.artifacts import ArtifactStore
from maestro_ml.storage.database import build_engine, build_session_factory
from maestro_ml.storage.migrate import is_current, upgrade
from maestro_ml.storage.unit_of_work import UnitOfWorkFactory

log = logging.getLogger("maestro_ml")


@dataclass
class Container:
    """Everything a process wires together, built from one ``Settings``."""

    settings: Settings
    engine: Engine
    uow: UnitOfWorkFactory
    artifacts: ArtifactStore
    identity: IdentityService
    background: list[Any] = field(default_factory=list)

    def readiness_checks(self) -> dict[str, dict[str, Any]]:
        checks: dict[str, dict[str, Any]] = {}
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            checks["database"] = {"ok": True}
            checks["migrations"] = {"ok": is_current(self.engine)}
        except Exception as exc:  # any driver failure means "not ready"
            checks["database"] = {"ok": False, "error": type(exc).__name__}
        try:
            self.artifacts.check()
            checks["artifact_store"] = {"ok": True}
        except Exception as exc:
            checks["artifact_store"] = {"ok": False, "error": type(exc).__name__}
        return checks

    def start_background(self) -> None:
        for component in self.background:
            component.start()

    def stop_background(self) -> None:
        for component in reversed(self.background):
            component.stop()

    def close(self) -> None:
        self.stop_background()
        self.engine.dispose()


def build_container(settings: Settings, *, migrate: bool = True) -> Container:
    settings.ensure_data_dir()
    engine = build_engine(settings.resolved_database_url, settings.db_pool_size)
    if migrate:
        upgrade(engine)
    uow = UnitOfWorkFactory(build_session_factory(engine))
    secret = settings.resolved_secret_key()
    tokens = TokenConfig(
        secret=secret,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        access_ttl_seconds=settings.access_token_ttl_seconds,
    )
    identity = IdentityService(
        uow, tokens, secret, settings.refresh_token_ttl_seconds, settings.api_key_cache_seconds
    )
    artifacts = ArtifactStore(settings.resolved_artifact_root)
    return Container(
        settings=settings, engine=engine, uow=uow, artifacts=artifacts, identity=identity
    )


def bootstrap_admin(container: Container) -> BootstrapResult:
    settings = container.settings
    password = settings.bootstrap_admin_password
    return container.identity.bootstrap_admin(
        settings.bootstrap_admin_email, password.get_secret_value() if password else None
    )


def build_app(settings: Settings) -> FastAPI:
    from maestro_ml.api.app import create_app

    container = build_container(settings)
    return create_app(container)
