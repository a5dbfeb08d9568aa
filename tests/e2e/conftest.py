"""End-to-end fixtures: a real ``maestro server`` process over HTTP, and SDK clients for it.

The server runs as a subprocess on a free port with its own data directory and database
(a fresh PostgreSQL database when ``MAESTRO_TEST_DATABASE_URL`` is set, else SQLite), with
the in-process job worker. Its log is attached to the report of any failing test.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest

import maestro_ml
from maestro_ml.sdk.models import Dataset, Deployment, Experiment, Model, Run
from tests.conftest import PG_ENV, _create_pg_database, _drop_pg_database
from tests.factories import Actors, make_tenant

ADMIN_EMAIL = "root@e2e.maestro.test"
ADMIN_PASSWORD = "e2e-root-password-123!"
STARTUP_SECONDS = 90.0
TARGET = "target"

_log_key = pytest.StashKey[Path]()


@dataclass
class Server:
    url: str
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]

    def log_tail(self, max_chars: int = 20_000) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return text[-max_chars:]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_environment(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAESTRO_")}
    env.update({
        "MAESTRO_DATABASE_URL": database_url,
        "MAESTRO_SECRET_KEY": "e2e-secret-" + uuid.uuid4().hex + uuid.uuid4().hex,
        "MAESTRO_BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
        "MAESTRO_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "MAESTRO_WORKER_POLL_SECONDS": "0.1",
        "MAESTRO_API_KEY_CACHE_SECONDS": "0",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def wait_until_ready(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    last = "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode} while starting:\n"
                        f"{log_path.read_text(errors='replace')[-20_000:]}")
        try:
            response = httpx.get(f"{url}/readyz", timeout=2.0)
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text[:500]}"
        except httpx.TransportError as exc:
            last = repr(exc)
        time.sleep(0.2)
    pytest.fail(f"server not ready after {STARTUP_SECONDS:g} s ({last}):\n"
                f"{log_path.read_text(errors='replace')[-20_000:]}")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
           ) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("e2e-server")
    pg_base = os.environ.get(PG_ENV)
    pg_name = None
    if pg_base:
        database_url, pg_name = _create_pg_database(pg_base)
    else:
        database_url = f"sqlite:///{data_dir / 'maestro.db'}"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = data_dir / "server.log"
    request.config.stash[_log_key] = log_path
    command = [sys.executable, "-m", "maestro_ml.cli.main", "server", "--host", "127.0.0.1",
               "--port", str(port), "--data-dir", str(data_dir)]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            command, env=server_environment(database_url), cwd=data_dir,
            stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        wait_until_ready(url, process, log_path)
        yield Server(url=url, data_dir=data_dir, log_path=log_path, process=process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if pg_base and pg_name:
            _drop_pg_database(pg_base, pg_name)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Iterator[None]:
    report = yield
    log_path = item.config.stash.get(_log_key, None)
    if report.failed and log_path is not None and log_path.exists():
        report.sections.append(
            ("maestro server log (tail)", log_path.read_text(errors="replace")[-20_000:])
        )
    return report


@pytest.fixture(scope="session")
def root_token(server: Server) -> str:
    response = httpx.post(f"{server.url}/api/v1/auth/token",
                          json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@pytest.fixture(scope="session")
def actors(server: Server, root_token: str) -> Actors:
    """One tenant for the session, with a user and an API key per role."""
    with httpx.Client(base_url=server.url, timeout=30) as http:
        return make_tenant(http, root_token)


@pytest.fixture(scope="session")
def client_for(server: Server, actors: Actors) -> Iterator[Callable[[str], maestro_ml.Client]]:
    """``client_for("viewer")``: an SDK client with that role's API key."""
    made: list[maestro_ml.Client] = []

    def make(role: str) -> maestro_ml.Client:
        client = maestro_ml.Client(api_url=server.url, api_key=actors.keys[role],
                                   show_progress=False)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def engineer(client_for: Callable[[str], maestro_ml.Client]) -> maestro_ml.Client:
    return client_for("ml_engineer")


@dataclass
class Seeded:
    """What SPEC §3's flow made: the data, dataset, model, experiment, run and deployment."""

    frame: pd.DataFrame
    csv: Path
    dataset: Dataset
    model: Model
    experiment: Experiment
    run: Run
    deployment: Deployment


@pytest.fixture(scope="session")
def seeded(client_for: Callable[[str], maestro_ml.Client],
           tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    """SPEC §3's flow, verbatim in shape, on breast-cancer data; run once per session."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    path = tmp_path_factory.mktemp("data") / "breast_cancer.csv"
    frame.to_csv(path, index=False)

    client = client_for("ml_engineer")
    ds = client.datasets.upload(path=str(path), name="breast-cancer")
    model = client.models.create(name=f"breast-cancer-{uuid.uuid4().hex[:8]}",
                                 task="classification", framework="sklearn")
    exp = client.experiments.create(
        model_id=model.id, dataset_id=ds.id, target=TARGET,
        parameters={"estimator": "RandomForestClassifier", "n_estimators": 100, "max_depth": 10},
    )
    run = exp.wait_for_completion(timeout=600)
    dep = client.deployments.create(model_id=model.id, environment="production", replicas=2)
    return Seeded(frame, path, ds, model, exp, run, dep)
