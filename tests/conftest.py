"""Shared fixtures: a real database (SQLite file, or PostgreSQL when
``MAESTRO_TEST_DATABASE_URL`` is set), a real artifact directory, and the app over HTTP."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from maestro_ml.config import Settings

PG_ENV = "MAESTRO_TEST_DATABASE_URL"
REDIS_ENV = "MAESTRO_TEST_REDIS_URL"


def _create_pg_database(base_url: str) -> tuple[str, str]:
    url = make_url(base_url)
    name = f"maestro_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False), name


def _drop_pg_database(base_url: str, name: str) -> None:
    admin = create_engine(make_url(base_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = os.environ.get(PG_ENV)
    if base:
        url, name = _create_pg_database(base)
        yield url
        _drop_pg_database(base, name)
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'maestro.db'}"


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Settings:
    data_dir: Path = tmp_path_factory.mktemp("data")
    return Settings(
        _env_file=None,
        data_dir=data_dir,
        database_url=database_url,
        # The PostgreSQL pass runs with Redis behind the shared limits, as production does.
        redis_url=os.environ.get(REDIS_ENV) or None,
        secret_key="test-secret-" + uuid.uuid4().hex + uuid.uuid4().hex,
        run_worker=True,
        worker_poll_seconds=0.05,
        api_key_cache_seconds=0.0,
        # Integration tests judge canaries by hand (rollouts.evaluate_canaries), between
        # batches of traffic; a background judgement in mid-batch would skip their steps.
        # The live-server e2e tests keep the background evaluator.
        canary_evaluation_seconds=0.0,
        bootstrap_admin_email="root@maestro.test",
        bootstrap_admin_password="root-password-123!",
        allowed_hosts=["testserver", "localhost", "127.0.0.1"],  # TestClient: "testserver"
        # Every TestClient request comes from one peer ("testclient"): the per-IP tiers
        # stay on (exercised) but are raised so a whole session never meets them.
        rate_limit_ip_auth="100000/minute", rate_limit_login_ip="100000/minute",
        rate_limit_ip_read="1000000/minute", rate_limit_ip_write="1000000/minute",
    )
