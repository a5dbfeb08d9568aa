"""SLOs end to end: requests -> middleware -> recorder -> flusher -> database -> service -> API.

The clock of the recorder and of the service is injected so a burst of errors and the hours
after it are walked through without sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from maestro_ml.bootstrap import Container
from maestro_ml.observability.slo_metrics import install_slo_gauges
from maestro_ml.observability.slo_recorder import MinuteCounts, SloRecorder
from maestro_ml.services.slo_records import SloFlusher
from tests.factories import Actors, make_tenant
from tests.model_factories import create_model, make_model_version, sample_rows
from tests.unit.observability.test_deploy_files import referenced_names


class FakeClock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(container: Container) -> Iterator[FakeClock]:
    # Ten days ahead, on a minute boundary: no other test's records share these minutes.
    fake = FakeClock((time.time() // 60 + 10 * 24 * 60) * 60 + 1)
    container.slo_flusher.flush()
    saved = container.slo_recorder.clock, container.slos.clock
    container.slo_recorder.clock = container.slos.clock = fake
    yield fake
    container.slo_flusher.flush()
    container.slo_recorder.clock, container.slos.clock = saved


@pytest.fixture(scope="module")
def tenant(client: TestClient, root_token: str) -> Actors:
    return make_tenant(client, root_token)


@pytest.fixture(scope="module")
def deployment(client: TestClient, container: Container, tenant: Actors) -> dict:
    model = create_model(client, tenant)
    make_model_version(container, tenant.tenant_id, model["id"], seed=0)
    response = client.post("/api/v1/deployments", json={"model_id": model["id"], "version": 1},
                           headers=tenant.headers("ml_engineer"))
    assert response.status_code == 201, response.text
    return response.json()


def slo(client: TestClient, actors: Actors, name: str) -> dict:
    response = client.get(f"/api/v1/slos/{name}", headers=actors.headers("viewer"))
    assert response.status_code == 200, response.text
    return response.json()


def test_a_burst_of_errors_pages_then_clears_window_by_window(
    client: TestClient, container: Container, tenant: Actors, deployment: dict,
    clock: FakeClock,
):
    name = deployment["name"]
    availability = f"deployment-{name}-availability"
    for row in sample_rows(20, seed=1):  # real predictions, counted by the middleware
        response = client.post(f"/api/v1/deployments/{name}/predict", json={"features": row},
                               headers=tenant.headers("viewer"))
        assert response.status_code == 200, response.text
    container.slo_flusher.flush()
    calm = slo(client, tenant, availability)
    assert calm["total_requests"] == 20 and calm["bad_requests"] == 0
    assert calm["alert"]["state"] == "ok" and calm["error_budget_remaining"] == 1.0

    # 30 server errors among 100 requests: 30% bad, a burn rate of 300 on every window.
    recorder, key = container.slo_recorder, (tenant.tenant_id, deployment["id"])
    for index in range(80):
        recorder.record(key, 500 if index < 30 else 200, 0.01)
    container.slo_flusher.flush()
    burst = slo(client, tenant, availability)
    assert burst["total_requests"] == 100 and burst["bad_requests"] == 30
    assert burst["burn_rates"]["5m"] == pytest.approx(300.0)
    assert burst["alert"] == {"state": "page", "rule": "page-1h-5m", "factor": 14.4,
                              "long_window": "1h", "short_window": "5m"}
    assert burst["error_budget_remaining"] == pytest.approx(1 - 300.0)

    burst_at = clock.now
    expected = [  # (minutes after the burst, the rule that still fires)
        (5, "page-6h-30m"),     # the 5m window is clean: the 14.4x page clears
        (30, "ticket-1d-2h"),   # the 30m window is clean: no page any more
        (120, "ticket-3d-6h"),  # the 2h window is clean
        (360, None),            # the 6h window is clean: every alert has cleared
    ]
    for minutes, rule in expected:
        clock.now = burst_at + minutes * 60
        later = slo(client, tenant, availability)
        assert later["alert"]["rule"] == rule, (minutes, later)
        assert later["alert"]["state"] == (rule.split("-")[0] if rule else "ok")
        assert later["total_requests"] == 100  # the budget window still holds the burst
    assert later["burn_rates"]["5m"] == 0 and later["burn_rates"]["3d"] == pytest.approx(300)


def test_a_deployment_overrides_its_objectives_and_threshold(
    client: TestClient, container: Container, tenant: Actors, deployment: dict,
    clock: FakeClock,
):
    path = f"/api/v1/slos/deployments/{deployment['id']}"
    body = {"availability_objective": 0.99, "latency_threshold_seconds": 0.25}

    assert client.put(path, json=body, headers=tenant.headers("viewer")).status_code == 403
    response = client.put(path, json=body, headers=tenant.headers("ml_engineer"))

    assert response.status_code == 200, response.text
    found = response.json()
    assert found["overrides"] == {**body, "latency_objective": None}
    by_kind = {item["kind"]: item for item in found["slos"]}
    assert by_kind["availability"]["objective"] == 0.99
    assert by_kind["latency"]["objective"] == 0.99  # the platform default
    assert by_kind["latency"]["latency_threshold_seconds"] == 0.25
    # The recorder judges this deployment's requests against the new threshold at once.
    recorder = container.slo_recorder
    assert recorder.threshold_for((tenant.tenant_id, deployment["name"])) == 0.25
    before = latency_counts(client, tenant, path)
    recorder.record((tenant.tenant_id, deployment["name"]), 200, 0.2)  # under 0.25: fine
    recorder.record((tenant.tenant_id, deployment["name"]), 200, 0.3)  # over: slow
    container.slo_flusher.flush()
    after = latency_counts(client, tenant, path)
    assert (after[0] - before[0], after[1] - before[1]) == (2, 1)

    back = client.put(path, json={}, headers=tenant.headers("ml_engineer")).json()
    assert back["overrides"] == {"availability_objective": None, "latency_objective": None,
                                 "latency_threshold_seconds": None}


def latency_counts(client: TestClient, actors: Actors, path: str) -> tuple[int, int]:
    found = client.get(path, headers=actors.headers("viewer")).json()
    latency = next(item for item in found["slos"] if item["kind"] == "latency")
    return latency["total_requests"], latency["bad_requests"]


@pytest.mark.parametrize("body", [
    {"availability_objective": 1.0}, {"latency_objective": 0}, {"latency_objective": "high"},
    {"latency_threshold_seconds": -1}, {"window_days": 7},
])
def test_bad_objectives_are_refused_with_the_field_named(
    client: TestClient, tenant: Actors, deployment: dict, body: dict
):
    response = client.put(f"/api/v1/slos/deployments/{deployment['name']}", json=body,
                          headers=tenant.headers("ml_engineer"))
    assert response.status_code == 422, response.text
    assert next(iter(body)) in response.text


def test_another_tenant_sees_neither_the_slos_nor_the_overrides(
    client: TestClient, root_token: str, tenant: Actors, deployment: dict
):
    other = make_tenant(client, root_token)
    h = other.headers("tenant_admin")
    for ident in (deployment["id"], deployment["name"]):
        path = f"/api/v1/slos/deployments/{ident}"
        assert client.get(path, headers=h).status_code == 404
        assert client.put(path, json={}, headers=h).status_code == 404
    name = f"deployment-{deployment['name']}-availability"
    assert client.get(f"/api/v1/slos/{name}", headers=h).status_code == 404
    listed = client.get("/api/v1/slos", headers=h).json()["items"]
    assert all(deployment["id"] not in item["target"] for item in listed)


def test_api_slos_are_for_platform_admins_only(
    client: TestClient, root_token: str, tenant: Actors, deployment: dict
):
    root = {"Authorization": f"Bearer {root_token}"}
    names = [item["name"] for item in client.get("/api/v1/slos", headers=root).json()["items"]]
    assert names[:2] == ["api-availability", "api-latency"]
    api = client.get("/api/v1/slos/api-latency", headers=root).json()
    assert api["target"] == "api" and api["latency_threshold_seconds"] == 0.5

    listed = client.get("/api/v1/slos", headers=tenant.headers("tenant_admin")).json()["items"]
    assert {item["name"] for item in listed} == {
        f"deployment-{deployment['name']}-availability", f"deployment-{deployment['name']}-latency"
    }
    for name in ("api-availability", "api-latency", "nonsense", "deployment--latency"):
        response = client.get(f"/api/v1/slos/{name}", headers=tenant.headers("tenant_admin"))
        assert response.status_code == 404, (name, response.text)


def test_api_requests_are_counted_and_a_failed_flush_loses_nothing(
    client: TestClient, container: Container, root_token: str, clock: FakeClock
):
    root = {"Authorization": f"Bearer {root_token}"}
    before = client.get("/api/v1/slos/api-availability", headers=root).json()["total_requests"]
    assert client.get("/api/v1/tenants", headers=root).status_code == 200
    assert client.get("/healthz").status_code == 200  # probes are not API traffic
    assert client.get("/api/v1/nope", headers=root).status_code == 404  # a 4xx is not bad

    recorder = container.slo_recorder
    drained = recorder.drain()
    recorder.restore(drained)  # as a failed flush does
    container.slo_flusher.flush()
    after = client.get("/api/v1/slos/api-availability", headers=root).json()
    # The two requests above and the first GET of the availability SLO itself.
    assert after["total_requests"] - before == 3
    assert after["bad_requests"] == 0


def test_the_gauges_show_the_page_on_metrics(
    client: TestClient, container: Container, root_token: str, tenant: Actors,
    deployment: dict, clock: FakeClock,
):
    clock.advance(2 * 24 * 3600)  # a quiet stretch after the other tests' records
    for _ in range(30):
        container.slo_recorder.record((tenant.tenant_id, deployment["id"]), 503, 0.01)
    container.slo_flusher.flush()
    install_slo_gauges(
        container.slos.all_statuses, container.slos.earliest_api_key_expiry
    ).invalidate()

    response = client.get("/metrics", headers={"Authorization": f"Bearer {root_token}"})

    assert response.status_code == 200, response.text
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }

    def value(metric: str, **labels: str) -> float:
        return samples[(metric, tuple(sorted(labels.items())))]

    mine = {"slo": f"deployment-{deployment['name']}-availability", "tenant": tenant.name}
    assert value("maestro_slo_objective_ratio", slo="api-availability", tenant="") == 0.999
    assert value("maestro_slo_objective_ratio", **mine) == 0.999
    assert value("maestro_slo_alert_firing", severity="page", **mine) == 1.0
    assert value("maestro_slo_alert_firing", severity="ticket", **mine) == 0.0
    assert value("maestro_slo_burn_rate", window="5m", **mine) == pytest.approx(1000.0)
    assert value("maestro_slo_error_budget_remaining_ratio", **mine) < 0


# Published by model monitoring, not by this server yet (see docs/operations.md).
NOT_FROM_THIS_SERVER = {"maestro_drift_score"}


def test_every_metric_in_the_rules_and_dashboards_is_exposed(
    client: TestClient, root_token: str, tenant: Actors, deployment: dict
):
    row = sample_rows(1, seed=2)[0]
    client.post(f"/api/v1/deployments/{deployment['name']}/predict", json={"features": row},
                headers=tenant.headers("viewer"))
    client.get("/api/v1/nope", headers=tenant.headers("viewer"))
    response = client.get("/metrics", headers={"Authorization": f"Bearer {root_token}"})
    assert response.status_code == 200, response.text

    exposed: set[str] = set()
    for line in response.text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            suffixes = {"histogram": ("_bucket", "_count", "_sum"), "summary": ("_count", "_sum")}
            exposed |= {name, *(name + suffix for suffix in suffixes.get(kind, ()))}
    wanted = {name for name in referenced_names() if ":" not in name} - NOT_FROM_THIS_SERVER
    assert wanted - exposed == set()


def test_the_flusher_writes_on_shutdown_and_drops_records_past_retention(
    container: Container, tenant: Actors, deployment: dict, clock: FakeClock
):
    recorder = SloRecorder(0.5, 0.1, clock=clock)
    flusher = SloFlusher(container.uow, recorder, interval_seconds=3600, retention_days=30,
                         thresholds=dict)
    key = (tenant.tenant_id, deployment["name"])
    minute = int(clock.now // 60)
    recorder.add(key, minute - 31 * 24 * 60, MinuteCounts(7, 7, 7))  # older than the window
    recorder.add(key, minute - 29 * 24 * 60, MinuteCounts(5, 0, 0))
    recorder.add(key, minute, MinuteCounts(3, 1, 0))
    recorder.add(("no-such-tenant-id", "x"), minute, MinuteCounts(1, 0, 0))

    def stored() -> dict[int, tuple[int, int, int]]:
        starts = {str(m): m for m in (minute - 31 * 24 * 60, minute - 29 * 24 * 60, minute)}
        with container.uow.for_tenant(tenant.tenant_id, write=False) as uow:
            sums = uow.slos.deployment_windows(starts, [deployment["id"]])
        per_start = sums.get((tenant.tenant_id, deployment["id"]), {})
        return {int(start): per_start.get(start, (0, 0, 0)) for start in starts}

    flusher.start()
    before = stored()
    flusher.stop()  # the interval never came: stopping writes what was counted
    after = stored()
    assert recorder.pending == 0
    oldest, recent, now = sorted(after)
    assert after[oldest][0] - before[oldest][0] == 15  # 7 + 5 + 3 counted since 31 days ago
    assert after[now][0] - before[now][0] == 3

    flusher.maintain()  # retention: the bucket older than 30 days goes
    assert stored()[oldest][0] - before[oldest][0] == 8
