"""The prediction log against the real database: sampling, batching, bounded memory, clean
shutdown, retention, and reading/feedback by prediction id across tenants."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from maestro_ml.bootstrap import Container
from maestro_ml.observability.metrics import register_collector
from maestro_ml.serving.prediction_log import (
    PredictionLog,
    PredictionLogCollector,
    PredictionRecord,
    new_prediction_id,
)
from maestro_ml.storage.tables import PredictionLogRow
from tests.factories import Actors
from tests.model_factories import create_model, make_model_version, sample_rows

PREDICTIONS = "/api/v1/predictions"


def _record(tenant_id: str, deployment_id: str, **fields: Any) -> PredictionRecord:
    return PredictionRecord(**{
        "id": new_prediction_id(), "tenant_id": tenant_id, "deployment_id": deployment_id,
        "variant": "primary", "model_version_id": None, "latency_ms": 1.5,
        "outputs": {"predictions": ["stays"], "probabilities": [[0.2, 0.8]]},
        "inputs": [{"tenure": 3, "usage": 1.0, "score": 0.5}], **fields,
    })


def _rows(container: Container, deployment_id: str) -> list[PredictionLogRow]:
    with container.uow.system(write=False) as uow:
        stmt = select(PredictionLogRow).where(PredictionLogRow.deployment_id == deployment_id)
        return list(uow.session.scalars(stmt))


def _count(container: Container, deployment_id: str) -> int:
    with container.uow.system(write=False) as uow:
        stmt = select(func.count()).where(PredictionLogRow.deployment_id == deployment_id)
        return int(uow.session.scalar(stmt) or 0)


class _CountingUow:
    """The real unit of work factory, counting the transactions the writer opens."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.transactions = 0

    def system(self, *, write: bool = True) -> Any:
        self.transactions += 1
        return self.inner.system(write=write)


def test_stop_writes_everything_still_queued(container: Container, tenant: Actors) -> None:
    deployment = uuid.uuid4().hex
    log = PredictionLog(container.uow, batch_size=7, flush_seconds=60.0, retention_days=0)
    log.start()
    for _ in range(100):
        assert log.record(_record(tenant.tenant_id, deployment), 1.0)
    log.stop()
    assert _count(container, deployment) == 100
    stats = log.stats()
    assert stats["written"] == 100
    assert stats["pending"] == 0


def test_records_are_written_in_batches(container: Container, tenant: Actors) -> None:
    deployment = uuid.uuid4().hex
    counting = _CountingUow(container.uow)
    log = PredictionLog(counting, batch_size=20, flush_seconds=60.0, retention_days=0)
    for _ in range(50):
        log.record(_record(tenant.tenant_id, deployment), 1.0)
    assert _count(container, deployment) == 0  # nothing on the caller's path
    assert log.flush()
    assert counting.transactions == 3  # 20 + 20 + 10
    assert _count(container, deployment) == 50


def test_the_writer_thread_writes_without_being_asked(
    container: Container, tenant: Actors
) -> None:
    deployment = uuid.uuid4().hex
    log = PredictionLog(container.uow, batch_size=1000, flush_seconds=0.05, retention_days=0)
    log.start()
    try:
        for _ in range(10):
            log.record(_record(tenant.tenant_id, deployment), 1.0)
        assert log.flush(timeout=10)
        assert _count(container, deployment) == 10
    finally:
        log.stop()


def test_sampling_honours_the_rate_and_keeps_ids_when_asked(
    container: Container, tenant: Actors
) -> None:
    deployment = uuid.uuid4().hex
    log = PredictionLog(container.uow, batch_size=500, retention_days=0, seed=1234)
    for _ in range(2000):
        log.record(_record(tenant.tenant_id, deployment), 0.25)
    log.flush()
    logged = _count(container, deployment)
    # Binomial(2000, 0.25): mean 500, sd ~19.4; four sd either side.
    assert 420 <= logged <= 580
    assert log.stats()["unsampled"] == 2000 - logged

    kept = uuid.uuid4().hex
    for _ in range(200):
        assert log.record(_record(tenant.tenant_id, kept), 0.1, keep=True)
    log.flush()
    rows = _rows(container, kept)
    assert len(rows) == 200  # every id findable
    with_inputs = sum(row.inputs is not None for row in rows)
    assert 5 <= with_inputs <= 40  # ~10 % sampled in full
    assert all(row.outputs["predictions"] == ["stays"] for row in rows)
    assert not log.record(_record(tenant.tenant_id, kept), 0.0)


def test_a_full_queue_drops_and_counts(container: Container, tenant: Actors) -> None:
    deployment = uuid.uuid4().hex
    log = PredictionLog(container.uow, queue_size=5, retention_days=0)
    results = [log.record(_record(tenant.tenant_id, deployment), 1.0) for _ in range(8)]
    assert results == [True] * 5 + [False] * 3
    assert log.stats()["dropped_queue_full"] == 3
    log.flush()
    assert _count(container, deployment) == 5
    stats = log.stats()
    assert stats["recorded"] == stats["written"] + stats["dropped_queue_full"] + stats["failed"]


def test_a_failed_batch_is_counted_and_the_writer_goes_on(
    container: Container, tenant: Actors
) -> None:
    deployment = uuid.uuid4().hex
    log = PredictionLog(container.uow, batch_size=1, retention_days=0)
    log.start()
    try:
        log.record(_record("no-such-tenant", deployment), 1.0)  # violates the tenant key
        log.record(_record(tenant.tenant_id, deployment), 1.0)
        assert log.flush(timeout=10)
    finally:
        log.stop()
    assert log.stats()["failed"] == 1
    assert _count(container, deployment) == 1


def test_retention_deletes_old_rows(container: Container, tenant: Actors) -> None:
    deployment = uuid.uuid4().hex
    old = _record(tenant.tenant_id, deployment, created_at=datetime.now(UTC) - timedelta(days=40))
    fresh = _record(tenant.tenant_id, deployment)
    writer = PredictionLog(container.uow, retention_days=0)
    writer.record(old, 1.0)
    writer.record(fresh, 1.0)
    writer.flush()
    assert _count(container, deployment) == 2
    cleaner = PredictionLog(container.uow, retention_days=30, flush_seconds=0.01)
    cleaner.start()  # the first pass of the writer loop applies retention
    cleaner.stop()
    assert [row.id for row in _rows(container, deployment)] == [fresh.id]
    assert cleaner.stats()["deleted_by_retention"] >= 1


# -- reading and feedback by prediction id --------------------------------------------------


def _logged(container: Container, tenant: Actors, **fields: Any) -> PredictionRecord:
    record = _record(tenant.tenant_id, uuid.uuid4().hex, **fields)
    container.prediction_log.record(record, 1.0)
    return record


def test_a_logged_prediction_reads_back_in_its_tenant_only(
    client: TestClient, container: Container, tenant: Actors, other_tenant: Actors
) -> None:
    record = _logged(container, tenant)
    response = client.get(f"{PREDICTIONS}/{record.id}", headers=tenant.headers("viewer"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["variant"] == "primary"
    assert body["inputs"] == record.inputs
    assert body["outputs"]["predictions"] == ["stays"]
    assert body["feedback"] is None

    other = client.get(f"{PREDICTIONS}/{record.id}", headers=other_tenant.headers("tenant_admin"))
    unknown = client.get(f"{PREDICTIONS}/{uuid.uuid4().hex}", headers=tenant.headers("viewer"))
    for refused in (other, unknown):
        assert refused.status_code == 404
        assert "sample rate" in refused.json()["detail"]


def test_feedback_is_stored_once(
    client: TestClient, container: Container, tenant: Actors, other_tenant: Actors
) -> None:
    record = _logged(container, tenant)
    url = f"{PREDICTIONS}/{record.id}/feedback"
    # Given right after the prediction: the log is flushed for it rather than a 404.
    response = client.post(url, json={"label": "stays"}, headers=tenant.headers("data_scientist"))
    assert response.status_code == 201, response.text
    assert response.json()["truths"] == ["stays"]

    again = client.post(url, json={"label": "churns"}, headers=tenant.headers("data_scientist"))
    assert again.status_code == 409
    assert "already" in again.json()["detail"]
    other = client.post(url, json={"label": "x"}, headers=other_tenant.headers("tenant_admin"))
    assert other.status_code == 404
    viewer = client.post(url, json={"label": "x"}, headers=tenant.headers("viewer"))
    assert viewer.status_code == 403

    read = client.get(f"{PREDICTIONS}/{record.id}", headers=tenant.headers("viewer")).json()
    assert read["feedback"]["truths"] == ["stays"]
    assert read["feedback"]["kind"] == "label"


@pytest.mark.parametrize(
    "body",
    [{}, {"label": "a", "value": 1.0}, {"label": ["a", "b"]}, {"value": "high"},
     {"label": {"nested": 1}}, {"extra": 1}],
)
def test_malformed_feedback_is_refused_clearly(
    client: TestClient, container: Container, tenant: Actors, body: dict[str, Any]
) -> None:
    record = _logged(container, tenant)
    response = client.post(
        f"{PREDICTIONS}/{record.id}/feedback", json=body, headers=tenant.headers("data_scientist")
    )
    assert response.status_code == 422, response.text


def test_feedback_for_a_prediction_of_several_rows_takes_one_truth_per_row(
    client: TestClient, container: Container, tenant: Actors
) -> None:
    record = _logged(container, tenant, outputs={"predictions": [1.0, 2.0, 3.0]})
    url = f"{PREDICTIONS}/{record.id}/feedback"
    headers = tenant.headers("data_scientist")
    assert client.post(url, json={"value": 1.0}, headers=headers).status_code == 422
    response = client.post(url, json={"value": [1.0, 2.5, 3]}, headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["kind"] == "value"


def test_predict_returns_an_id_that_reads_back(
    client: TestClient, container: Container, tenant: Actors
) -> None:
    model = create_model(client, tenant)
    make_model_version(container, tenant.tenant_id, model["id"])
    headers = tenant.headers("ml_engineer")
    created = client.post("/api/v1/deployments", headers=headers, json={
        "model_id": model["id"], "name": f"logged-{uuid.uuid4().hex[:8]}", "log_sample_rate": 1.0,
    })
    assert created.status_code == 201, created.text
    rows = sample_rows(2, seed=3)
    predicted = client.post(
        f"/api/v1/deployments/{created.json()['name']}/predict", json={"instances": rows},
        headers=tenant.headers("viewer"),
    )
    assert predicted.status_code == 200, predicted.text
    prediction_id = predicted.json()["prediction_id"]
    read = client.get(f"{PREDICTIONS}/{prediction_id}", headers=tenant.headers("viewer"))
    assert read.status_code == 200, read.text
    assert read.json()["outputs"]["predictions"] == predicted.json()["predictions"]
    assert read.json()["row_count"] == 2
    assert read.json()["inputs"] is not None


def test_the_log_counters_are_scraped(
    client: TestClient, container: Container, tenant: Actors, root_token: str
) -> None:
    _logged(container, tenant)
    container.prediction_log.flush()
    # Collectors are per process and the latest container's wins: other tests build their
    # own containers, so put this session container's log back behind the scrape.
    register_collector(PredictionLogCollector(container.prediction_log))
    # Other tests' predictions keep the session's log writing: the scrape must fall between
    # what had been written before it and what has been written after it.
    before = container.prediction_log.stats()["written"]
    response = client.get("/metrics", headers={"Authorization": f"Bearer {root_token}"})
    assert response.status_code == 200, response.text
    after = container.prediction_log.stats()["written"]
    scraped = re.search(
        r'^maestro_prediction_log_records_total\{outcome="written"\} (\S+)$', response.text, re.M
    )
    assert scraped is not None, response.text
    assert before > 0
    assert before <= float(scraped.group(1)) <= after
    assert "maestro_prediction_log_pending" in response.text
