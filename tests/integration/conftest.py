"""Integration fixtures: one migrated container and app per session, HTTP via TestClient."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from maestro_ml.api.app import create_app
from maestro_ml.bootstrap import Container, bootstrap_admin, build_container
from maestro_ml.config import Settings
from tests.factories import Actors, make_tenant
from tests.integration.security.tally import TALLY


@pytest.fixture(scope="session")
def container(settings: Settings) -> Iterator[Container]:
    container = build_container(settings)
    bootstrap_admin(container)
    yield container
    container.close()


@pytest.fixture(scope="session")
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="session")
def root_token(client: TestClient, settings: Settings) -> str:
    response = client.post("/api/v1/auth/token", json={
        "email": settings.bootstrap_admin_email,
        "password": settings.bootstrap_admin_password.get_secret_value(),
    })
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


@pytest.fixture
def tenant(client: TestClient, root_token: str) -> Actors:
    """A fresh tenant with one API key per role."""
    return make_tenant(client, root_token)


@pytest.fixture
def other_tenant(client: TestClient, root_token: str) -> Actors:
    return make_tenant(client, root_token)


# -- the attack battery's summary (see tests/integration/security/) ---------------------------
def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: hand the counts to the controller
        workeroutput["attack_battery"] = TALLY.export()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    TALLY.merge(getattr(node, "workeroutput", {}).get("attack_battery", {}))


def pytest_terminal_summary(terminalreporter: object) -> None:
    TALLY.write_summary(terminalreporter)
