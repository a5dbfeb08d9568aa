"""/metrics over HTTP: access control, formats, and every family fed by a scripted workload."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from maestro_ml.api.app import create_app
from maestro_ml.bootstrap import Container, build_container
from maestro_ml.config import Settings
from maestro_ml.observability.business import BusinessCollector
from maestro_ml.observability.metrics import active_metrics
from maestro_ml.storage.platform_counts import read_platform_counts
from tests.factories import Actors, make_tenant
from tests.model_factories import create_model, make_model_version, sample_rows

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

FAMILIES = (
    "maestro_http_requests_total", "maestro_http_request_duration_seconds_bucket",
    "maestro_http_requests_in_flight", "maestro_predictions_total",
    "maestro_prediction_duration_seconds_bucket", "maestro_prediction_batch_rows_bucket",
    "maestro_registered_models", "maestro_model_versions", "maestro_experiments",
    "maestro_runs", "maestro_deployments", "maestro_jobs", "maestro_job_queue_depth",
    "maestro_db_pool_connections_in_use", "maestro_db_pool_overflow",
    "maestro_db_pool_wait_seconds_count", "maestro_db_query_duration_seconds_count",
    "maestro_rate_limit_rejections_total", "maestro_audit_events_total",
    "maestro_model_cache_loaded_bytes",
)


def scrape(client: TestClient, token: str) -> Samples:
    for collector in active_metrics().collectors:  # fresh database counts, not the cache
        if isinstance(collector, BusinessCollector):
            collector.invalidate()
    response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum over every series of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def test_metrics_needs_the_platform_permission(client: TestClient, tenant: Actors):
    assert client.get("/metrics").status_code == 401
    for role in ("viewer", "tenant_admin"):
        response = client.get("/metrics", headers=tenant.headers(role))
        assert response.status_code == 403, role
        assert "system:metrics" in response.json()["detail"]


def test_text_and_openmetrics_formats(client: TestClient, root_token: str):
    auth = {"Authorization": f"Bearer {root_token}"}
    text = client.get("/metrics", headers=auth)
    assert text.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE maestro_http_requests_total counter" in text.text
    asked = client.get("/metrics", headers={**auth, "Accept": "application/openmetrics-text"})
    assert asked.headers["content-type"].startswith("application/openmetrics-text")
    assert asked.text.rstrip().endswith("# EOF")


@dataclass(frozen=True)
class Workload:
    before: Samples
    after: Samples
    deployment: str  # the deployment it predicted on

    def grew(self, name: str, **labels: str) -> float:
        return total(self.after, name, **labels) - total(self.before, name, **labels)


@pytest.fixture(scope="module")
def workload(client: TestClient, container: Container, settings: Settings,
             root_token: str) -> Workload:
    """A scripted workload touching every family, scraped before and after (once per module
    and process, so each test that reads it sees its own process's counters)."""
    tenant = make_tenant(client, root_token)
    before = scrape(client, root_token)
    writer = tenant.headers("data_scientist")
    # Tracking: one experiment, three runs, a 404 on a run and an unmatched path.
    experiment = client.post("/api/v1/experiments", json={"name": "metrics-exp"}, headers=writer)
    assert experiment.status_code == 201, experiment.text
    for _ in range(3):
        run = client.post("/api/v1/runs", json={"experiment_id": experiment.json()["id"]},
                          headers=writer)
        assert run.status_code == 201, run.text
    assert client.get("/api/v1/runs/0123456789abcdef", headers=writer).status_code == 404
    assert client.get("/api/v1/no-such-thing", headers=writer).status_code == 404
    # Serving: a model version, deployed, predicted 4 times (2 rows each).
    model = create_model(client, tenant)
    make_model_version(container, tenant.tenant_id, model["id"], seed=1)
    deployment = client.post("/api/v1/deployments", json={"model_id": model["id"], "version": 1},
                             headers=tenant.headers("ml_engineer"))
    assert deployment.status_code == 201, deployment.text
    name = deployment.json()["name"]
    for _ in range(4):
        answer = client.post(f"/api/v1/deployments/{name}/predict",
                             json={"instances": sample_rows(2, seed=3)},
                             headers=tenant.headers("viewer"))
        assert answer.status_code == 200, answer.text
    # A refusal by a tight per-account login limit, on an app of its own (same process
    # metrics): 2 attempts an hour, the third is refused.
    tight = build_container(settings.model_copy(update={
        "run_worker": False, "redis_url": None, "rate_limit_login_account": "2/hour"}),
        migrate=False)
    try:
        with TestClient(create_app(tight), raise_server_exceptions=False) as limited:
            statuses = [limited.post("/api/v1/auth/token", json={
                "email": "nobody-metrics@example.test", "password": "wrong-password-123",
            }).status_code for _ in range(3)]
    finally:
        tight.close()
    assert statuses == [401, 401, 429]
    return Workload(before, scrape(client, root_token), name)


def test_scripted_workload_is_counted_exactly(workload: Workload):
    grew, name = workload.grew, workload.deployment
    assert grew("maestro_http_requests_total", route="/api/v1/experiments", method="POST",
                status_class="2xx") == 1
    assert grew("maestro_http_requests_total", route="/api/v1/runs", method="POST",
                status_class="2xx") == 3
    assert grew("maestro_http_requests_total", route="/api/v1/runs/{run_id}", method="GET",
                status_class="4xx") == 1
    assert grew("maestro_http_requests_total", route="unmatched", status_class="4xx") == 1
    assert grew("maestro_http_requests_total", route="/api/v1/auth/token",
                status_class="4xx") == 3
    assert grew("maestro_http_request_duration_seconds_count",
                route="/api/v1/experiments", method="POST") == 1
    assert grew("maestro_predictions_total", deployment=name, variant="primary",
                outcome="ok") == 4
    assert grew("maestro_prediction_duration_seconds_count", deployment=name) == 4
    assert grew("maestro_prediction_rows_total", deployment=name) == 8
    assert grew("maestro_prediction_batch_rows_count") >= 4
    assert grew("maestro_rate_limit_rejections_total", tier="login_account") == 1
    # Audit: experiment, 3 runs, model, deployment writes; 1 throttled login (denied).
    assert grew("maestro_audit_events_total", outcome="success") >= 6
    assert grew("maestro_audit_events_total", outcome="denied") >= 1
    assert grew("maestro_experiments") == 1
    assert grew("maestro_runs") == 3
    assert grew("maestro_registered_models") == 1
    assert grew("maestro_model_versions") == 1
    assert grew("maestro_deployments") == 1
    assert grew("maestro_db_query_duration_seconds_count") > 0
    assert grew("maestro_db_pool_wait_seconds_count") > 0


def test_every_listed_family_is_exposed(workload: Workload):
    names = {name for name, _ in workload.after}
    assert set(FAMILIES) <= names, sorted(set(FAMILIES) - names)
    assert value(workload.after, "maestro_http_requests_in_flight") >= 1  # the scrape itself


def test_rate_limit_tiers_are_exposed_at_zero_before_a_refusal(client: TestClient,
                                                               settings: Settings,
                                                               root_token: str):
    fresh = build_container(settings.model_copy(update={
        "run_worker": False, "redis_url": None}),
        migrate=False)
    try:
        samples = scrape(client, root_token)
    finally:
        fresh.close()
    assert fresh.rate_limiter.tiers
    for tier in fresh.rate_limiter.tiers:
        assert ("maestro_rate_limit_rejections_total", frozenset({("tier", tier)})) in samples


def test_business_gauges_equal_the_database(client: TestClient, container: Container,
                                            root_token: str):
    samples = scrape(client, root_token)
    counts = read_platform_counts(container.engine)
    assert value(samples, "maestro_runs") == counts.runs
    assert value(samples, "maestro_experiments") == counts.experiments
    assert value(samples, "maestro_registered_models") == counts.registered_models
    assert value(samples, "maestro_job_queue_depth") == counts.jobs_by_state.get("queued", 0)
    for state, number in counts.jobs_by_state.items():
        assert value(samples, "maestro_jobs", state=state) == number


def test_route_labels_are_templates_never_raw_ids(client: TestClient, root_token: str,
                                                  tenant: Actors):
    for run_id in ("aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"):
        client.get(f"/api/v1/runs/{run_id}", headers=tenant.headers("viewer"))
    samples = scrape(client, root_token)
    routes = {dict(labels).get("route") for name, labels in samples
              if name == "maestro_http_requests_total"}
    assert "/api/v1/runs/{run_id}" in routes
    assert not any("aaaa" in route or "bbbb" in route for route in routes if route)
