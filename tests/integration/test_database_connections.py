"""PostgreSQL connections the server (or the network) dropped: replaced, or a 503 to retry."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text

from maestro_ml.api.app import create_app
from maestro_ml.bootstrap import bootstrap_admin, build_container
from maestro_ml.config import Settings
from maestro_ml.storage import database
from maestro_ml.storage.database import build_engine
from tests.conftest import PG_ENV, _create_pg_database, _drop_pg_database


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A database of this test's own: its connections are killed without touching others'."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip("pooled server connections exist on PostgreSQL only")
    url, name = _create_pg_database(base)
    yield url
    _drop_pg_database(base, name)


@contextmanager
def served_as_root(pg_url: str, settings: Settings) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """An app on the test's own database, and the bootstrap admin's bearer headers."""
    own = settings.model_copy(update={"database_url": pg_url, "run_worker": False})
    container = build_container(own)
    bootstrap_admin(container)
    try:
        with TestClient(create_app(container), raise_server_exceptions=False) as client:
            token = client.post("/api/v1/auth/token", json={
                "email": own.bootstrap_admin_email,
                "password": own.bootstrap_admin_password.get_secret_value(),
            }).json()["access_token"]
            yield client, {"Authorization": f"Bearer {token}"}
    finally:
        container.close()


def terminate_all(url: str) -> int:
    """Kill every other session on the test's database, as a server restart would."""
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        killed = connection.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )).scalar()
    admin.dispose()
    return int(killed or 0)


def backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def counting_pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    pings: list[int] = []
    real = engine.dialect.do_ping

    def do_ping(dbapi_connection: object) -> bool:
        pings.append(1)
        return real(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", do_ping)
    return pings


def test_a_connection_back_from_use_moments_ago_is_not_pinged_an_idle_one_is(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 0.3)
    engine = build_engine(pg_url, pool_size=1)
    pings = counting_pings(engine, monkeypatch)
    try:
        first = backend_pid(engine)  # a new connection: no ping
        assert backend_pid(engine) == first  # handed back just now: no ping either
        assert pings == []
        time.sleep(0.4)
        assert backend_pid(engine) == first  # idle past the threshold: pinged, still alive
        assert pings == [1]
    finally:
        engine.dispose()


def test_an_idle_connection_killed_by_the_server_is_replaced_before_use(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 0.2)
    engine = build_engine(pg_url, pool_size=1)
    try:
        killed = backend_pid(engine)
        assert terminate_all(pg_url) == 1
        time.sleep(0.3)
        assert backend_pid(engine) != killed  # the caller never saw the dead one
    finally:
        engine.dispose()


def test_connections_killed_under_traffic_answer_503_with_retry_after_then_recover(
    pg_url: str, settings: Settings
) -> None:
    with served_as_root(pg_url, settings) as (client, headers):
        assert client.get("/api/v1/tenants", headers=headers).status_code == 200
        assert terminate_all(pg_url) >= 1
        answers = [client.get("/api/v1/tenants", headers=headers) for _ in range(4)]
    statuses = [answer.status_code for answer in answers]
    assert set(statuses) <= {200, 503}, statuses
    assert 503 in statuses  # a connection in use moments ago is not pinged: it fails once
    for answer in answers:
        if answer.status_code == 503:
            assert int(answer.headers["retry-after"]) >= 1
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert "database is unavailable" in answer.json()["detail"]
    assert statuses[-1] == 200  # the pool dropped the dead connections and reconnected


def test_run_data_writes_on_killed_connections_answer_503_then_recover(
    pg_url: str, settings: Settings
) -> None:
    # Metrics, params and tags are written on the driver connection past SQLAlchemy
    # (storage.repositories.run_appends): a dead one must still be a 503 and be replaced.
    with served_as_root(pg_url, settings) as (client, headers):
        experiment = client.post("/api/2.0/mlflow/experiments/create", headers=headers,
                                 json={"name": "killed"}).json()["experiment_id"]
        run_id = client.post("/api/2.0/mlflow/runs/create", headers=headers, json={
            "experiment_id": experiment}).json()["run"]["info"]["run_id"]

        def log(step: int) -> httpx.Response:
            return client.post("/api/2.0/mlflow/runs/log-metric", headers=headers, json={
                "run_id": run_id, "key": "loss", "value": step / 10, "step": step,
                "timestamp": 1})

        assert log(0).status_code == 200
        assert terminate_all(pg_url) >= 1
        answers = [log(step) for step in range(1, 5)]
        history = client.get("/api/2.0/mlflow/metrics/get-history", headers=headers,
                             params={"run_id": run_id, "metric_key": "loss"}).json()
    statuses = [answer.status_code for answer in answers]
    assert set(statuses) <= {200, 503}, statuses
    assert 503 in statuses and statuses[-1] == 200
    for answer in answers:
        if answer.status_code == 503:
            assert int(answer.headers["retry-after"]) >= 1
            assert answer.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"  # MLflow's format
            assert "database is unavailable" in answer.json()["message"]
    stored = sorted(m["step"] for m in history["metrics"])
    assert stored == [0] + [step for step, s in zip(range(1, 5), statuses, strict=True)
                           if s == 200]
