"""Appends to runs (metrics, params, tags, batches) refused as a whole, on both databases.

On PostgreSQL an append is one statement guarded by the run's state; these tests check
that a refused append leaves nothing behind, and that a param committed by another
transaction while a batch was waiting for its key is caught.
"""

from __future__ import annotations

import threading
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from maestro_ml.bootstrap import Container
from maestro_ml.storage.repositories.run_appends import RunAppends
from tests.factories import Actors
from tests.integration.test_runs import RUNS, make_run

BATCH = {
    "params": [{"key": "depth", "value": "3"}],
    "metrics": [{"key": "acc", "value": 0.8, "step": 1}],
    "tags": [{"key": "team", "value": "a"}],
}
APPENDS = [("metrics", {"key": "acc", "value": 0.5}), ("params", {"key": "depth", "value": "3"}),
           ("tags", {"key": "team", "value": "a"}), ("batch", BATCH)]


def stored(client: TestClient, url: str, headers: dict[str, str]) -> tuple[dict, dict, dict, list]:
    run = client.get(url, headers=headers).json()
    history = client.get(f"{url}/metrics/acc/history", headers=headers).json()["items"]
    return run["params"], run["metrics"], run["tags"], history


def test_appends_to_a_deleted_run_or_experiment_are_409_and_write_nothing(
    client: TestClient, tenant: Actors
):
    headers = tenant.headers("data_scientist")
    run = make_run(client, tenant)
    url = f"{RUNS}/{run['id']}"
    experiment_url = f"/api/v1/experiments/{run['experiment_id']}"
    for deleted in (url, experiment_url):
        assert client.delete(deleted, headers=headers).status_code == 204
        for path, body in APPENDS:
            response = client.post(f"{url}/{path}", json=body, headers=headers)
            assert response.status_code == 409, (deleted, path, response.text)
            assert "restore" in response.json()["detail"]
        assert client.post(f"{deleted}/restore", headers=headers).status_code == 200
        assert stored(client, url, headers) == ({}, {}, {}, [])
    # Restored: the same appends now land.
    for path, body in APPENDS:
        assert client.post(f"{url}/{path}", json=body, headers=headers).status_code in (200, 201)
    params, metrics, tags, history = stored(client, url, headers)
    assert params == {"depth": "3"} and tags == {"team": "a"} and metrics == {"acc": 0.8}
    assert sorted(point["value"] for point in history) == [0.5, 0.8]


def test_another_tenants_run_takes_no_appends(
    client: TestClient, tenant: Actors, other_tenant: Actors
):
    run = make_run(client, tenant)
    url = f"{RUNS}/{run['id']}"
    for path, body in APPENDS:
        response = client.post(f"{url}/{path}", json=body,
                               headers=other_tenant.headers("data_scientist"))
        assert response.status_code == 404, (path, response.text)
    assert stored(client, url, tenant.headers("data_scientist")) == ({}, {}, {}, [])


@pytest.mark.parametrize(("theirs", "refused"), [("5", True), ("3", False)])
def test_a_param_committed_meanwhile_is_compared_with_the_batch(
    client: TestClient, container: Container, tenant: Actors, theirs: str, refused: bool
):
    """Another value refuses the whole batch; the same value lets all of it through."""
    require_postgres(container)
    headers = tenant.headers("data_scientist")
    run = make_run(client, tenant)
    url = f"{RUNS}/{run['id']}"
    answers = []
    with container.engine.connect() as other:
        # Another writer holds the key 'depth' (uncommitted) when the batch starts.
        other.execute(text("INSERT INTO params (run_id, key, value) VALUES (:r, 'depth', :v)"),
                      {"r": run["id"], "v": theirs})
        batch = threading.Thread(target=lambda: answers.append(
            client.post(f"{url}/batch", json=BATCH, headers=headers)))
        batch.start()
        wait_for_a_lock_wait(container, "the batch never waited for the other writer")
        other.commit()
    batch.join(20)
    assert answers, "the batch did not finish"
    if refused:
        assert answers[0].status_code == 409, answers[0].text
        assert "'depth'" in answers[0].json()["detail"] and "'5'" in answers[0].json()["detail"]
        assert stored(client, url, headers) == ({"depth": "5"}, {}, {}, [])
    else:
        assert answers[0].status_code == 200, answers[0].text
        params, metrics, tags, history = stored(client, url, headers)
        assert (params, metrics, tags) == ({"depth": "3"}, {"acc": 0.8}, {"team": "a"})
        assert [point["value"] for point in history] == [0.8]


def test_appends_to_a_run_and_its_update_do_not_wait_for_each_other(
    client: TestClient, container: Container, tenant: Actors
):
    """An append holds its run only against a delete (FOR KEY SHARE), not against
    other appends or a change of the run's status."""
    require_postgres(container)
    headers = tenant.headers("data_scientist")
    run = make_run(client, tenant)
    url = f"{RUNS}/{run['id']}"
    answers: list[int] = []

    def others() -> None:
        answers.append(client.post(f"{url}/batch", json=BATCH, headers=headers).status_code)
        answers.append(client.post(f"{url}/metrics", json={"key": "loss", "value": 1.0},
                                   headers=headers).status_code)
        answers.append(client.patch(url, json={"status": "FINISHED"},
                                    headers=headers).status_code)

    with container.engine.connect() as appender:
        raw = appender.connection.dbapi_connection
        appends = RunAppends(raw, "postgresql", tenant.tenant_id)  # in a transaction: open
        # Another key: the same one's latest value is a row both would write.
        assert appends.append(run["id"], "active", metrics=[("held", 0.1, 0, 1)]).states
        worker = threading.Thread(target=others)
        worker.start()
        worker.join(20)
        finished_while_open = not worker.is_alive()
        raw.commit()
    worker.join(20)
    assert finished_while_open, "another append or the update waited for the open append"
    assert answers == [200, 201, 200]
    params, metrics, tags, _ = stored(client, url, headers)
    assert metrics == {"acc": 0.8, "loss": 1.0, "held": 0.1} and params == {"depth": "3"}


def require_postgres(container: Container) -> None:
    if container.engine.dialect.name != "postgresql":
        pytest.skip("SQLite admits one writer at a time: nothing can commit in between")


def wait_for_a_lock_wait(container: Container, failure: str) -> None:
    """Return once a session of the test database waits for a lock; fail after 20 s."""
    deadline = time.monotonic() + 20
    while not _waiting_on_a_lock(container) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _waiting_on_a_lock(container), failure


def _waiting_on_a_lock(container: Container) -> bool:
    with container.engine.connect() as probe:
        return bool(probe.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        )).scalar())
