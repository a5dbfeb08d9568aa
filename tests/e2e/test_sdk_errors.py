"""Typed errors and credentials of the SDK against the real server."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

import maestro_ml
from tests.e2e.conftest import Server
from tests.factories import PASSWORD, Actors

pytestmark = pytest.mark.e2e


def test_a_random_id_is_not_found(client_for: Callable[[str], maestro_ml.Client]) -> None:
    client = client_for("viewer")
    missing = uuid.uuid4().hex

    with pytest.raises(maestro_ml.NotFound) as caught:
        client.models.get(missing)

    assert caught.value.status == 404
    assert caught.value.problem["code"] == "not_found"
    with pytest.raises(maestro_ml.NotFound):
        client.runs.get(missing)
    with pytest.raises(maestro_ml.NotFound):
        client.jobs.get(missing)


def test_a_viewer_key_cannot_write(client_for: Callable[[str], maestro_ml.Client]) -> None:
    viewer = client_for("viewer")

    with pytest.raises(maestro_ml.PermissionDenied) as caught:
        viewer.models.create(name=f"nope-{uuid.uuid4().hex[:6]}", task="classification")

    assert caught.value.status == 403
    assert "models:write" in caught.value.detail
    with pytest.raises(maestro_ml.PermissionDenied):
        viewer.experiments.create(name=f"nope-{uuid.uuid4().hex[:6]}")


def test_a_data_scientist_cannot_deploy(client_for: Callable[[str], maestro_ml.Client]) -> None:
    with pytest.raises(maestro_ml.PermissionDenied):
        client_for("data_scientist").deployments.create(model_id=uuid.uuid4().hex)


def test_a_duplicate_model_name_already_exists(
    client_for: Callable[[str], maestro_ml.Client],
) -> None:
    client = client_for("data_scientist")
    name = f"dup-{uuid.uuid4().hex[:8]}"
    client.models.create(name=name, task="regression", framework="sklearn")

    with pytest.raises(maestro_ml.AlreadyExists):
        client.models.create(name=name, task="regression", framework="sklearn")


def test_an_unknown_api_key_is_unauthenticated(server: Server) -> None:
    client = maestro_ml.Client(api_url=server.url, api_key="mk_not_a_real_key")
    with client, pytest.raises(maestro_ml.Unauthenticated) as caught:
        client.me()
    assert caught.value.status == 401


def test_email_and_password_log_in_and_me_names_the_user(server: Server, actors: Actors
                                                          ) -> None:
    email = actors.emails["data_scientist"]
    with maestro_ml.Client(api_url=server.url, email=email, password=PASSWORD) as client:
        me = client.me()
    assert me.email == email
    assert me.role == "data_scientist"
    assert me.tenant_id == actors.tenant_id
    assert "runs:write" in me.permissions


def test_a_wrong_password_is_unauthenticated(server: Server) -> None:
    # an unknown address, so no real account collects failed-login strikes
    client = maestro_ml.Client(api_url=server.url, email="nobody@example.com",
                               password="wrong-password-123")
    with client, pytest.raises(maestro_ml.Unauthenticated):
        client.me()


def test_api_keys_are_created_listed_and_revoked(server: Server, actors: Actors) -> None:
    email = actors.emails["ml_engineer"]
    with maestro_ml.Client(api_url=server.url, email=email, password=PASSWORD) as owner:
        created = owner.api_keys.create(f"ci-{uuid.uuid4().hex[:6]}", role="viewer")
        assert created.key.startswith("mk_")
        assert created.id in {k.id for k in owner.api_keys.list()}
        with maestro_ml.Client(api_url=server.url, api_key=created.key) as keyed:
            assert keyed.me().role == "viewer"
            owner.api_keys.revoke(created.id)
            with pytest.raises(maestro_ml.Unauthenticated):
                keyed.me()


def test_an_unreachable_server_is_unavailable_after_retries() -> None:
    policy = maestro_ml.RetryPolicy(max_retries=1, backoff_base=0.01)
    client = maestro_ml.Client(api_url="http://127.0.0.1:9", api_key="mk_x", retry=policy)
    with client, pytest.raises(maestro_ml.Unavailable) as caught:
        next(client.models.list())
    assert "could not reach" in caught.value.detail
