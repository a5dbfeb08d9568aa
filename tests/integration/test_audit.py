"""The audit trail: what is recorded, who may read it, the export, and tamper detection."""

from __future__ import annotations

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from maestro_ml.bootstrap import Container
from maestro_ml.cli.main import app as cli
from maestro_ml.config import Settings
from tests.factories import Actors, unique

AUDIT = "/api/v1/audit"


def create_model(client: TestClient, headers: dict[str, str], **extra: str):
    body = {"name": unique("model"), "task": "classification", "framework": "sklearn"}
    return client.post("/api/v1/models", json=body, headers={**headers, **extra})


def events(client: TestClient, tenant: Actors, **params: str) -> list[dict]:
    response = client.get(AUDIT, params=params, headers=tenant.headers("tenant_admin"))
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_creating_a_model_records_a_success_event_with_actor_object_and_request(
    client: TestClient, tenant: Actors
):
    created = create_model(client, tenant.headers("data_scientist"),
                           **{"X-Request-ID": "req-test-123456", "User-Agent": "audit-test/1"})
    assert created.status_code == 201
    assert created.headers["x-request-id"] == "req-test-123456"
    model_id = created.json()["id"]

    [event] = events(client, tenant, object_id=model_id)
    assert event["action"] == "models:write"
    assert (event["method"], event["route"]) == ("POST", "/api/v1/models")
    assert event["object"] == {"id": model_id}
    assert (event["outcome"], event["status_code"]) == ("success", 201)
    assert event["tenant_id"] == tenant.tenant_id
    assert event["actor_email"] == tenant.emails["data_scientist"]
    assert event["actor_api_key_id"] and event["actor_user_id"]
    assert event["request_id"] == "req-test-123456"
    assert event["user_agent"] == "audit-test/1"
    assert event["client_ip"] == "testclient"
    assert event["seq"] >= 1 and len(event["hash"]) == 64


def test_update_records_the_path_parameters_as_the_object(client: TestClient, tenant: Actors):
    model_id = create_model(client, tenant.headers()).json()["id"]
    patched = client.patch(f"/api/v1/models/{model_id}", json={"description": "x"},
                           headers=tenant.headers("data_scientist"))
    assert patched.status_code == 200
    found = events(client, tenant, object_id=model_id, action="models:write")
    assert [e["route"] for e in found] == ["/api/v1/models/{model_id}", "/api/v1/models"]
    assert found[0]["object"] == {"model_id": model_id}


def test_a_viewers_refused_write_is_recorded_as_denied(client: TestClient, tenant: Actors):
    refused = create_model(client, tenant.headers("viewer"))
    assert refused.status_code == 403
    [event] = events(client, tenant, outcome="denied", actor=tenant.emails["viewer"])
    assert (event["action"], event["status_code"]) == ("models:write", 403)
    assert event["request_id"] == refused.headers["x-request-id"]


def test_reads_and_unknown_ids_are_not_recorded(client: TestClient, tenant: Actors):
    client.get("/api/v1/models", headers=tenant.headers("viewer"))
    missing = client.patch("/api/v1/models/" + "0" * 32, json={"description": "x"},
                           headers=tenant.headers("data_scientist"))
    assert missing.status_code == 404
    # The viewer's only recorded act is creating its API key (in the fixture).
    viewer = events(client, tenant, actor=tenant.emails["viewer"])
    assert [(e["method"], e["route"]) for e in viewer] == [("POST", "/api/v1/api-keys")]
    assert events(client, tenant, object_id="0" * 32) == []


def test_events_are_found_by_the_request_id_their_response_carried(
    client: TestClient, tenant: Actors
):
    first = create_model(client, tenant.headers("data_scientist"))
    second = create_model(client, tenant.headers("data_scientist"))
    assert first.status_code == second.status_code == 201
    [event] = events(client, tenant, request_id=second.headers["x-request-id"])
    assert event["object_id"] == second.json()["id"]
    assert events(client, tenant, request_id="no-such-request") == []


def test_insane_request_ids_are_replaced(client: TestClient, tenant: Actors):
    response = client.get("/api/v1/models", headers={**tenant.headers(), "X-Request-ID": "<x>"})
    assert response.headers["x-request-id"] != "<x>"
    assert len(response.headers["x-request-id"]) == 32


def test_tenant_admin_sees_only_their_tenant(
    client: TestClient, tenant: Actors, other_tenant: Actors
):
    mine = create_model(client, tenant.headers()).json()["id"]
    theirs = create_model(client, other_tenant.headers()).json()["id"]
    assert events(client, tenant, object_id=theirs) == []
    assert events(client, other_tenant, object_id=mine) == []
    assert {e["tenant_id"] for e in events(client, tenant, limit="200")} == {tenant.tenant_id}


def test_audit_read_needs_the_audit_permission(client: TestClient, tenant: Actors):
    for role in ("viewer", "ml_engineer"):
        assert client.get(AUDIT, headers=tenant.headers(role)).status_code == 403


def test_bad_filters_are_422(client: TestClient, tenant: Actors):
    response = client.get(AUDIT, params={"outcome": "maybe"}, headers=tenant.headers())
    assert response.status_code == 422
    assert "outcome" in response.json()["detail"]
    for path in (AUDIT, f"{AUDIT}/export"):  # before the first instant UTC can hold
        early = client.get(path, params={"until": "0001-01-01T00:00:00+00:06"},
                           headers=tenant.headers())
        assert early.status_code == 422, early.text
        assert "'until'" in early.json()["detail"]


def test_times_with_and_without_an_offset_compare_as_utc(client: TestClient, tenant: Actors):
    mixed = client.get(AUDIT, headers=tenant.headers(), params={
        "since": "2020-01-01T00:00:00", "until": "2020-01-01T00:30:00+01:00"})
    assert mixed.status_code == 422  # 23:30 UTC the day before: not after 'since'
    assert "'since' must be before 'until'" in mixed.json()["detail"]
    spanning = client.get(AUDIT, headers=tenant.headers(), params={
        "since": "2000-01-01T00:00:00", "until": "9999-12-31T23:00:00+00:00"})
    assert spanning.status_code == 200 and spanning.json()["items"]


def test_export_streams_valid_json_lines_oldest_first(client: TestClient, tenant: Actors):
    for _ in range(3):
        create_model(client, tenant.headers())
    response = client.get(f"{AUDIT}/export", params={"action": "models:write"},
                          headers=tenant.headers())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [orjson.loads(line) for line in response.text.splitlines()]
    assert len(lines) == 3
    assert [line["seq"] for line in lines] == sorted(line["seq"] for line in lines)
    assert {line["tenant_id"] for line in lines} == {tenant.tenant_id}


def cli_env(settings: Settings) -> dict[str, str]:
    return {"MAESTRO_DATABASE_URL": settings.database_url,
           "MAESTRO_DATA_DIR": str(settings.data_dir),
           "MAESTRO_SECRET_KEY": settings.secret_key.get_secret_value()}


def verify(settings: Settings, tenant_id: str):
    return CliRunner().invoke(cli, ["audit", "verify", "--tenant-id", tenant_id],
                              env=cli_env(settings))


def test_cli_export_writes_the_chain_as_json_lines_in_seq_order(
    client: TestClient, settings: Settings, tenant: Actors, tmp_path
):
    create_model(client, tenant.headers())
    target = tmp_path / "audit.jsonl"
    result = CliRunner().invoke(
        cli, ["audit", "export", "--tenant-id", tenant.tenant_id, "-o", str(target)],
        env=cli_env(settings),
    )
    assert result.exit_code == 0, result.output
    lines = [orjson.loads(line) for line in target.read_bytes().splitlines()]
    assert [line["seq"] for line in lines] == list(range(1, len(lines) + 1))
    assert lines[-1]["action"] == "models:write" and lines[0]["prev_hash"] == "0" * 64


def test_verify_passes_untouched_and_names_the_seq_of_a_modified_event(
    client: TestClient, container: Container, settings: Settings, tenant: Actors
):
    for _ in range(3):
        create_model(client, tenant.headers())
    clean = verify(settings, tenant.tenant_id)
    assert clean.exit_code == 0, clean.output
    assert "ok" in clean.output

    with container.engine.begin() as conn:
        conn.execute(text(
            "UPDATE audit_events SET actor_email = 'someone@else.test' "
            "WHERE chain = :chain AND seq = 2"), {"chain": tenant.tenant_id})
    broken = verify(settings, tenant.tenant_id)
    assert broken.exit_code == 1
    assert "seq 2" in broken.output


def test_verify_detects_a_deleted_last_event_and_a_deleted_middle_one(
    client: TestClient, container: Container, settings: Settings, tenant: Actors
):
    for _ in range(3):
        create_model(client, tenant.headers())
    with container.engine.begin() as conn:
        last = conn.execute(text("SELECT MAX(seq) FROM audit_events WHERE chain = :c"),
                            {"c": tenant.tenant_id}).scalar_one()
        conn.execute(text("DELETE FROM audit_events WHERE chain = :c AND seq = :s"),
                     {"c": tenant.tenant_id, "s": last})
    result = verify(settings, tenant.tenant_id)
    assert result.exit_code == 1
    assert f"seq {last}" in result.output

    with container.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE chain = :c AND seq = 1"),
                     {"c": tenant.tenant_id})
    result = verify(settings, tenant.tenant_id)
    assert result.exit_code == 1 and "seq 1" in result.output


def test_unauthenticated_attempts_go_to_the_platform_chain(
    client: TestClient, container: Container
):
    response = client.post("/api/v1/models", json={}, headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    request_id = response.headers["x-request-id"]
    [event] = [e for e in container.audit.chain_events("platform")
               if e["request_id"] == request_id]
    assert (event["outcome"], event["tenant_id"], event["actor_user_id"]) == (
        "denied", None, None)
    assert [r.ok for r in container.audit.verify("platform")] == [True]


def test_concurrent_writers_do_not_fork_a_chain(container: Container, tenant: Actors):
    from concurrent.futures import ThreadPoolExecutor
    from datetime import UTC, datetime

    from maestro_ml.domain.audit import AuditRecord

    def write(i: int) -> None:
        container.audit.record(AuditRecord(
            tenant_id=tenant.tenant_id, action="models:write", method="POST",
            route="/api/v1/models", outcome="success", status_code=201,
            request_id=f"concurrent-{i:04d}", occurred_at=datetime.now(UTC),
        ))

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(write, range(40)))
    chain = list(container.audit.chain_events(tenant.tenant_id))
    assert [e["seq"] for e in chain] == list(range(1, len(chain) + 1))
    assert sum(e["request_id"].startswith("concurrent-") for e in chain) == 40
    [report] = container.audit.verify(tenant.tenant_id)
    assert report.ok and report.checked == len(chain)


def test_two_processes_appending_to_one_chain_in_turn_keep_it_linked(
    container: Container, tenant: Actors
):
    """Each writer links to the head it wrote last; the other one moved it meanwhile."""
    from datetime import UTC, datetime

    from maestro_ml.domain.audit import AuditRecord
    from maestro_ml.services.audit import AuditService

    other = AuditService(container.uow)  # as another server process would
    try:
        for i, writer in enumerate([container.audit, container.audit, other, other,
                                    container.audit, other, container.audit] * 3):
            writer.record(AuditRecord(
                tenant_id=tenant.tenant_id, action="models:write", method="POST",
                route="/api/v1/models", outcome="success", status_code=201,
                request_id=f"in-turn-{i:04d}", occurred_at=datetime.now(UTC),
            ))
    finally:
        other.stop()
    chain = list(container.audit.chain_events(tenant.tenant_id))
    assert [e["seq"] for e in chain] == list(range(1, len(chain) + 1))
    assert [e["request_id"] for e in chain if e["request_id"].startswith("in-turn-")] == [
        f"in-turn-{i:04d}" for i in range(21)]
    [report] = container.audit.verify(tenant.tenant_id)
    assert report.ok and report.checked == len(chain)


def test_mlflow_writes_record_the_objects_their_bodies_name_and_the_ones_they_create(
    client: TestClient, tenant: Actors
):
    headers = {**tenant.headers("data_scientist"), "X-Request-ID": unique("mlflow-audit")}
    mlflow = "/api/2.0/mlflow"
    name = unique("exp")
    experiment = client.post(f"{mlflow}/experiments/create", json={"name": name},
                             headers=headers).json()["experiment_id"]
    run = client.post(f"{mlflow}/runs/create", json={"experiment_id": experiment},
                      headers=headers).json()["run"]["info"]["run_id"]
    assert client.post(f"{mlflow}/runs/update", json={"run_id": run, "status": "FINISHED"},
                       headers=headers).status_code == 200
    model = unique("model")
    assert client.post(f"{mlflow}/registered-models/create", json={"name": model},
                       headers=headers).status_code == 200
    model_id = client.get("/api/v1/models", params={"name": model},
                          headers=headers).json()["items"][0]["id"]
    logged = client.post(f"{mlflow}/logged-models", json={"experiment_id": experiment},
                         headers=headers).json()["model"]["info"]["model_id"]
    recorded = {e["route"]: e for e in events(client, tenant, request_id=headers["X-Request-ID"])}
    update = recorded[f"{mlflow}/runs/update"]
    assert (update["object"], update["object_id"]) == ({"run_id": run}, run)
    created = {route.removeprefix(mlflow): (e["object"], e["object_id"])
               for route, e in recorded.items() if e["method"] == "POST"}
    assert created["/experiments/create"] == ({"name": name, "id": experiment}, experiment)
    assert created["/runs/create"] == ({"experiment_id": experiment, "id": run}, run)
    assert created["/registered-models/create"] == ({"name": model, "id": model_id}, model_id)
    assert created["/logged-models"] == ({"experiment_id": experiment, "id": logged}, logged)


def test_an_event_naming_hostile_characters_is_stored_with_them_replaced(
    client: TestClient, container: Container, tenant: Actors
):
    # A viewer may not update runs: the refusal is recorded, naming the run it was sent.
    request_id = unique("nul-audit")
    refused = client.post("/api/2.0/mlflow/runs/update",
                          json={"run_id": "run\x00id", "status": "FINISHED"},
                          headers={**tenant.headers("viewer"), "X-Request-ID": request_id})
    assert refused.status_code == 403, refused.text
    [event] = events(client, tenant, request_id=request_id)
    assert event["outcome"] == "denied"
    assert (event["object"], event["object_id"]) == ({"run_id": "run\ufffdid"}, "run\ufffdid")
    assert [r.ok for r in container.audit.verify(tenant.tenant_id)] == [True]


def test_searches_sent_by_post_are_reads_and_leave_no_event(client: TestClient, tenant: Actors):
    experiment = client.post("/api/2.0/mlflow/experiments/create", json={"name": unique("e")},
                             headers=tenant.headers("data_scientist")).json()["experiment_id"]
    request_id = unique("search-audit")
    headers = {**tenant.headers("viewer"), "X-Request-ID": request_id}
    for path, body in (("/api/2.0/mlflow/runs/search", {"experiment_ids": [experiment]}),
                       ("/api/2.0/mlflow/experiments/search", {}),
                       ("/api/v1/runs/search", {"experiment_ids": [experiment]})):
        searched = client.post(path, json=body, headers=headers)
        assert searched.status_code == 200, (path, searched.text)
    assert events(client, tenant, request_id=request_id) == []
    denied = client.post("/api/2.0/mlflow/runs/search", json={},
                         headers={"X-Request-ID": request_id})
    assert denied.status_code == 401  # a refused search is still evidence


def test_a_failed_login_records_the_attempted_account_in_the_platform_chain(
    client: TestClient, container: Container
):
    email = f"{unique('nobody')}@example.com"
    response = client.post("/api/v1/auth/token",
                           json={"email": email, "password": "not-the-password-1"})
    assert response.status_code == 401
    [event] = [e for e in container.audit.chain_events("platform")
               if e["request_id"] == response.headers["x-request-id"]]
    assert (event["actor_email"], event["outcome"], event["route"]) == (
        email, "denied", "/api/v1/auth/token")


def test_appending_run_data_is_recorded_once_per_window_other_writes_every_time(
    client: TestClient, tenant: Actors
):
    headers = tenant.headers("data_scientist")
    experiment = client.post("/api/v1/experiments", json={"name": unique("exp")}, headers=headers)
    runs = [client.post("/api/v1/runs", json={"experiment_id": experiment.json()["id"]},
                        headers=headers).json()["id"] for _ in range(2)]
    first, second = runs
    for step in range(5):
        logged = client.post(f"/api/v1/runs/{first}/metrics",
                             json={"key": "loss", "value": 1.0 / (step + 1), "step": step},
                             headers=headers)
        assert logged.status_code == 201
    for key in ("lr", "depth"):
        assert client.post(f"/api/v1/runs/{first}/params", json={"key": key, "value": "1"},
                           headers=headers).status_code == 201
    for value in ("a", "b"):
        assert client.post(f"/api/v1/runs/{first}/tags", json={"key": "t", "value": value},
                           headers=headers).status_code == 201
    assert client.post(f"/api/v1/runs/{second}/metrics", json={"key": "loss", "value": 0.5},
                       headers=headers).status_code == 201

    routes = [e["route"] for e in events(client, tenant, object_id=first)]
    assert sorted(routes) == [  # the run's creation, then what was done to it
        "/api/v1/runs", "/api/v1/runs/{run_id}/metrics", "/api/v1/runs/{run_id}/params",
        "/api/v1/runs/{run_id}/tags", "/api/v1/runs/{run_id}/tags",
    ]
    assert sorted(e["route"] for e in events(client, tenant, object_id=second)) == [
        "/api/v1/runs", "/api/v1/runs/{run_id}/metrics"
    ]
    history = client.get(f"/api/v1/runs/{first}/metrics/loss/history", headers=headers).json()
    assert [m["step"] for m in history["items"]] == [0, 1, 2, 3, 4]  # every value was written
