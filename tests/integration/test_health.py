"""Liveness and readiness: /readyz checks database, migrations, artifact store and Redis,
each with its latency, and answers 503 + Retry-After naming the check that failed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from fastapi.testclient import TestClient

from maestro_ml.api.app import create_app
from maestro_ml.bootstrap import Container, build_container
from maestro_ml.config import Settings
from maestro_ml.storage.migrate import alembic_config

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.fixture
def app_with(settings: Settings) -> Iterator[Callable[..., TestClient]]:
    """``app_with(database_url=..., redis_url=...)``: a client over its own, unmigrated app."""
    built: list[Container] = []

    def make(**overrides: Any) -> TestClient:
        update = {"run_worker": False, "metrics_enabled": False, **overrides}
        container = build_container(settings.model_copy(update=update), migrate=False)
        built.append(container)
        return TestClient(create_app(container), raise_server_exceptions=False)

    yield make
    for container in built:
        container.close()


def test_healthz_is_alive_without_credentials(client: TestClient):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_reports_every_check_with_its_latency(client: TestClient, settings: Settings):
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    checks = response.json()["checks"]
    expected = {"database", "migrations", "artifact_store"}
    if settings.redis_url:
        expected.add("redis")
    assert set(checks) == expected
    for name, check in checks.items():
        assert check["ok"] is True, name
        assert check["latency_ms"] >= 0 and "error" not in check


def test_database_at_an_old_revision_is_not_ready(app_with, tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0001")
    response = app_with(database_url=url).get("/readyz")
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"
    body = response.json()
    assert body["status"] == "not ready"
    assert body["checks"]["database"]["ok"] is True
    migrations = body["checks"]["migrations"]
    assert migrations["ok"] is False and "0001" in migrations["error"]
    assert "db upgrade" in migrations["error"]


def test_dead_redis_is_not_ready(app_with):
    response = app_with(redis_url=DEAD_REDIS).get("/readyz")
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"
    checks = response.json()["checks"]
    assert checks["redis"]["ok"] is False and checks["redis"]["error"]
    assert "127.0.0.1:1" not in checks["redis"]["error"]  # no URL echoed
    assert checks["database"]["ok"] is True


def test_unreachable_database_names_the_database(app_with, tmp_path: Path):
    missing = tmp_path / "no-such-dir" / "x.db"
    response = app_with(database_url=f"sqlite:///{missing}").get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"]["ok"] is False and checks["database"]["error"]
    assert checks["migrations"]["ok"] is False
