"""Durable jobs against the real database and the in-process worker: cancel, leases that
run out, retries with backoff, listing, logs and tenant isolation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from maestro_ml.bootstrap import Container
from maestro_ml.services.jobs import ClaimedJob
from tests.factories import Actors
from tests.integration.training_setup import (
    TERMINAL,
    breast_cancer_csv,
    create_model,
    job_logs,
    principal_of,
    start_training,
    upload,
    wait_for_job,
)

SLOW_FOREST = {"estimator": "RandomForestClassifier", "n_estimators": 20_000}


@pytest.fixture
def dataset(client: TestClient, tenant: Actors) -> dict[str, Any]:
    response = upload(client, tenant, breast_cancer_csv())
    assert response.status_code == 201, response.text
    return response.json()


def get(client: TestClient, actors: Actors, path: str, **params: Any) -> dict[str, Any]:
    response = client.get(path, params=params, headers=actors.headers("viewer"))
    assert response.status_code == 200, response.text
    return response.json()


def cancel(client: TestClient, actors: Actors, job_id: str) -> Any:
    return client.post(f"/api/v1/jobs/{job_id}/cancel", headers=actors.headers("data_scientist"))


def running_job(container: Container, tenant_id: str, **fields: Any) -> ClaimedJob:
    """A job row that a (pretend) worker named ``test-owner`` holds, written directly."""
    values = {"kind": "noop", "status": "running", "lease_owner": "test-owner", "payload": {},
              "lease_expires_at": datetime.now(UTC) + timedelta(hours=1), "attempts": 1,
              **fields}
    with container.uow.for_tenant(tenant_id) as uow:
        row = uow.jobs.create(**values)
        uow.commit()
        return ClaimedJob.of(row)


def test_cancel_stops_a_queued_job_at_once_and_a_running_one_via_the_worker(
    client: TestClient, tenant: Actors, dataset: dict[str, Any], container: Container
):
    model = create_model(client, tenant)
    blockers = [start_training(client, tenant, model["id"], dataset["id"], SLOW_FOREST)
                for _ in range(container.settings.worker_concurrency)]
    for blocker in blockers:  # every worker slot is busy ...
        job = wait_for_job(client, tenant, blocker["job_id"], {"running", *TERMINAL})
        assert job["status"] == "running", job
    queued = start_training(client, tenant, model["id"], dataset["id"])  # ... so this waits

    response = cancel(client, tenant, queued["job_id"])

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled" and response.json()["finished_at"]
    assert get(client, tenant, f"/api/v1/runs/{queued['run_id']}")["status"] == "KILLED"

    for blocker in blockers:
        requested = cancel(client, tenant, blocker["job_id"]).json()
        assert requested["status"] == "running" and requested["cancel_requested"] is True
        job = wait_for_job(client, tenant, blocker["job_id"])
        assert job["status"] == "cancelled", job
        run = get(client, tenant, f"/api/v1/runs/{blocker['run_id']}")
        assert run["status"] == "KILLED" and run["end_time"] is not None
        messages = [line["message"] for line in job_logs(client, tenant, blocker["job_id"])]
        assert any(m.startswith("Cancellation requested by") for m in messages)
        assert messages[-1] == "Cancelled: the work was stopped"
    assert get(client, tenant, f"/api/v1/models/{model['id']}/versions")["items"] == []
    assert cancel(client, tenant, queued["job_id"]).json()["status"] == "cancelled"


def test_a_job_whose_lease_expired_is_reclaimed_and_finished_once(
    client: TestClient, tenant: Actors, dataset: dict[str, Any], container: Container
):
    model = create_model(client, tenant)
    experiment = start_training(client, tenant, model["id"], dataset["id"])
    # A worker that claimed the job and died: its lease ran out a minute ago. Should the
    # live worker have claimed the job already, it loses it here and must discard its work.
    with container.uow.system() as uow:
        assert uow.jobs.transition(
            experiment["job_id"], from_status=("queued", "running"), status="running",
            lease_owner="dead-worker", attempts=1,
            lease_expires_at=datetime.now(UTC) - timedelta(minutes=1),
        )
        uow.commit()

    job = wait_for_job(client, tenant, experiment["job_id"])

    assert job["status"] == "succeeded", job
    assert job["attempts"] == 2
    messages = [line["message"] for line in job_logs(client, tenant, experiment["job_id"])]
    assert any("stopped renewing its lease; requeued" in m for m in messages)
    versions = get(client, tenant, f"/api/v1/models/{model['id']}/versions")["items"]
    assert [v["version"] for v in versions] == [1]  # trained once, registered once
    assert get(client, tenant, f"/api/v1/runs/{experiment['run_id']}")["status"] == "FINISHED"


def test_an_expired_lease_with_no_attempt_left_fails_the_job(
    client: TestClient, tenant: Actors, container: Container
):
    job = running_job(container, tenant.tenant_id, attempts=3, max_attempts=3,
                      lease_expires_at=datetime.now(UTC) - timedelta(seconds=1))

    failed = wait_for_job(client, tenant, job.id)

    assert failed["status"] == "failed" and failed["error_code"] == "lease_expired"
    assert "no attempts remain" in failed["error"]


def test_retryable_failure_requeues_with_backoff_until_attempts_run_out(
    client: TestClient, tenant: Actors, container: Container
):
    job = running_job(container, tenant.tenant_id, max_attempts=2)
    before = datetime.now(UTC)

    assert container.jobs.fail(job, "another-worker", "x", "retryable", retryable=True) is None
    status = container.jobs.fail(job, "test-owner", "temporary glitch", "retryable",
                                 retryable=True)

    assert status == "queued"
    with container.uow.for_tenant(tenant.tenant_id, write=False) as uow:
        row = uow.jobs.get(job.id)
        assert (row.status, row.error, row.lease_owner) == ("queued", "temporary glitch", None)
        # first retry: 2 s nominal, jittered into [1 s, 2 s]
        assert before + timedelta(seconds=1) <= row.not_before
        assert row.not_before <= datetime.now(UTC) + timedelta(seconds=2)
    # The worker claims it again once due: attempt 2, and a 'noop' job has no handler,
    # which is a permanent failure.
    final = wait_for_job(client, tenant, job.id)
    assert final["status"] == "failed" and final["attempts"] == 2
    assert final["error_code"] == "invalid_input" and "no handler for job kind" in final["error"]

    last = running_job(container, tenant.tenant_id, attempts=2, max_attempts=2)
    assert container.jobs.fail(last, "test-owner", "still down", "retryable",
                               retryable=True) == "failed"
    failed = get(client, tenant, f"/api/v1/jobs/{last.id}")
    assert failed["status"] == "failed" and failed["error"] == "still down"
    assert failed["finished_at"] is not None


def test_only_the_lease_holder_can_heartbeat(tenant: Actors, container: Container):
    job = running_job(container, tenant.tenant_id)

    assert container.jobs.sync(job, "test-owner", renew=True).owned
    assert not container.jobs.sync(job, "someone-else", renew=True).owned


def test_list_filters_by_status_and_kind_and_logs_page_oldest_first(
    client: TestClient, tenant: Actors, container: Container
):
    principal = principal_of(client, tenant)
    job = container.jobs.enqueue(principal, "noop", {})
    wait_for_job(client, tenant, job.id)  # no handler: failed on its first attempt

    def listed(**params: str) -> list[str]:
        response = client.get("/api/v1/jobs", params=params, headers=tenant.headers("viewer"))
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert listed(kind="noop") == [job.id]
    assert listed(kind="noop", status="failed") == [job.id]
    assert listed(kind="train") == [] and listed(status="queued") == []
    bad = client.get("/api/v1/jobs", params={"status": "done"}, headers=tenant.headers())
    assert bad.status_code == 422 and "queued" in bad.json()["detail"]

    pages, cursor = [], None
    while True:
        page = get(client, tenant, f"/api/v1/jobs/{job.id}/logs", limit=1,
                   **({"cursor": cursor} if cursor else {}))
        pages.append([line["message"] for line in page["items"]])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [len(page) for page in pages] == [1] * len(pages) and len(pages) == 3
    assert pages[0][0].startswith("Attempt 1 of 3 started")
    assert pages[1][0].startswith("no handler for job kind 'noop'")
    assert pages[2][0] == "Failed after 1 attempt(s)"
    conflict = cancel(client, tenant, job.id)
    assert conflict.status_code == 409 and "already failed" in conflict.json()["detail"]


def test_another_tenant_can_neither_see_nor_cancel_a_job(
    client: TestClient, tenant: Actors, other_tenant: Actors, container: Container
):
    job = container.jobs.enqueue(principal_of(client, tenant), "noop", {})
    stranger = other_tenant.headers()

    assert client.get(f"/api/v1/jobs/{job.id}", headers=stranger).status_code == 404
    assert client.get(f"/api/v1/jobs/{job.id}/logs", headers=stranger).status_code == 404
    assert client.post(f"/api/v1/jobs/{job.id}/cancel", headers=stranger).status_code == 404
    assert job.id not in [j["id"] for j in client.get("/api/v1/jobs", headers=stranger)
                          .json()["items"]]
    viewer = client.post(f"/api/v1/jobs/{job.id}/cancel", headers=tenant.headers("viewer"))
    assert viewer.status_code == 403
    assert get(client, tenant, f"/api/v1/jobs/{job.id}")["id"] == job.id
