"""Runs over HTTP: lifecycle, params, metrics (history, latest, NaN), tags, batches,
tenancy and roles."""

from __future__ import annotations

import json
import math
import sqlite3
import time

from fastapi.testclient import TestClient

from maestro_ml.bootstrap import Container
from tests.factories import Actors, unique

RUNS = "/api/v1/runs"


def make_run(client: TestClient, actors: Actors, **fields: object) -> dict:
    headers = actors.headers("data_scientist")
    if "experiment_id" not in fields:
        experiment = client.post("/api/v1/experiments", json={}, headers=headers)
        fields["experiment_id"] = experiment.json()["id"]
    response = client.post(RUNS, json=fields, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def make_dataset(container: Container, tenant_id: str) -> str:
    with container.uow.for_tenant(tenant_id) as uow:
        row = uow.datasets.create(
            name=unique("ds"), version=1, format="csv", artifact_key="datasets/x.csv",
            sha256="0" * 64, size_bytes=1, row_count=1,
        )
        uow.commit()
        return row.id


def test_run_lifecycle_create_finish_rename_delete_restore(client: TestClient, tenant: Actors):
    before = int(time.time() * 1000)
    run = make_run(client, tenant, name="baseline", tags={"git.sha": "abc123"})
    assert run["status"] == "RUNNING" and run["name"] == "baseline"
    assert run["tags"] == {"git.sha": "abc123"} and run["params"] == run["metrics"] == {}
    assert before - 1000 <= run["start_time"] <= int(time.time() * 1000) + 1000
    assert run["end_time"] is None and run["lifecycle_stage"] == "active"
    headers = tenant.headers("data_scientist")
    url = f"{RUNS}/{run['id']}"

    finished = client.patch(url, json={"status": "FINISHED"}, headers=headers).json()
    assert finished["status"] == "FINISHED" and finished["end_time"] >= run["start_time"]
    again = client.patch(url, json={"status": "running", "name": "renamed"}, headers=headers)
    assert again.json()["status"] == "RUNNING" and again.json()["end_time"] is None
    assert again.json()["name"] == "renamed"
    killed = client.patch(url, json={"status": "KILLED", "end_time": 1234}, headers=headers)
    assert killed.json()["end_time"] == 1234
    refinished = client.patch(url, json={"status": "FINISHED"}, headers=headers).json()
    assert refinished["status"] == "FINISHED" and refinished["end_time"] == 1234  # kept
    unchanged = client.patch(url, json={}, headers=headers)
    assert unchanged.status_code == 200 and unchanged.json() == refinished
    bad = client.patch(url, json={"status": "DONE"}, headers=headers)
    assert bad.status_code == 422 and "FINISHED" in bad.json()["detail"]

    assert client.delete(url, headers=headers).status_code == 204
    assert client.get(url, headers=headers).json()["lifecycle_stage"] == "deleted"
    logged = client.post(f"{url}/metrics", json={"key": "m", "value": 1}, headers=headers)
    assert logged.status_code == 409 and "restore" in logged.json()["detail"]
    restored = client.post(f"{url}/restore", headers=headers)
    assert restored.status_code == 200 and restored.json()["lifecycle_stage"] == "active"


def test_run_generated_name_parent_and_dataset_links(
    client: TestClient, tenant: Actors, container: Container
):
    parent = make_run(client, tenant)
    dataset_id = make_dataset(container, tenant.tenant_id)
    child = make_run(client, tenant, experiment_id=parent["experiment_id"],
                     parent_run_id=parent["id"], dataset_id=dataset_id, start_time=42)
    assert child["parent_run_id"] == parent["id"] and child["dataset_id"] == dataset_id
    assert child["start_time"] == 42 and child["name"].startswith("run-")


def test_run_needs_an_existing_active_experiment_and_own_links(
    client: TestClient, tenant: Actors, other_tenant: Actors, container: Container
):
    headers = tenant.headers("data_scientist")
    experiment = client.post("/api/v1/experiments", json={}, headers=headers).json()
    theirs = make_run(client, other_tenant)
    their_dataset = make_dataset(container, other_tenant.tenant_id)
    cases = [
        {"experiment_id": "f" * 32},
        {"experiment_id": theirs["experiment_id"]},
        {"experiment_id": experiment["id"], "parent_run_id": theirs["id"]},
        {"experiment_id": experiment["id"], "dataset_id": their_dataset},
    ]
    for body in cases:
        assert client.post(RUNS, json=body, headers=headers).status_code == 404, body
    client.delete(f"/api/v1/experiments/{experiment['id']}", headers=headers)
    in_deleted = client.post(RUNS, json={"experiment_id": experiment["id"]}, headers=headers)
    assert in_deleted.status_code == 409


def test_params_are_immutable_but_relogging_the_same_value_is_fine(
    client: TestClient, tenant: Actors
):
    run = make_run(client, tenant)
    headers = tenant.headers("data_scientist")
    url = f"{RUNS}/{run['id']}/params"
    first = client.post(url, json={"key": "max_depth", "value": "10"}, headers=headers)
    assert first.status_code == 201 and first.json() == {"key": "max_depth", "value": "10"}
    same = client.post(url, json={"key": "max_depth", "value": "10"}, headers=headers)
    assert same.status_code == 201
    changed = client.post(url, json={"key": "max_depth", "value": "12"}, headers=headers)
    assert changed.status_code == 409 and changed.json()["code"] == "conflict"
    detail = changed.json()["detail"]
    assert "max_depth" in detail and "'10'" in detail and "'12'" in detail
    params = client.get(f"{RUNS}/{run['id']}", headers=headers).json()["params"]
    assert params == {"max_depth": "10"}


def test_invalid_keys_and_oversized_values_are_422(client: TestClient, tenant: Actors):
    run = make_run(client, tenant)
    headers = tenant.headers("data_scientist")
    base = f"{RUNS}/{run['id']}"
    for key in ("", "../x", "a//b", "bad:key", "x" * 251):
        response = client.post(f"{base}/metrics", json={"key": key, "value": 1}, headers=headers)
        assert response.status_code == 422, key
    big = client.post(f"{base}/params", json={"key": "p", "value": "v" * 6001}, headers=headers)
    assert big.status_code == 422 and "6000" in big.json()["detail"]


def test_metric_history_keeps_every_value_once_and_latest_follows_the_highest_step(
    client: TestClient, tenant: Actors
):
    run = make_run(client, tenant)
    headers = tenant.headers("data_scientist")
    url = f"{RUNS}/{run['id']}/metrics"
    logged = [(0, 0.9, 100), (2, 0.5, 101), (1, 0.7, 102), (2, 0.4, 103), (1, 0.1, 104)]
    for step, value, timestamp in logged:
        response = client.post(url, headers=headers, json={
            "key": "loss", "value": value, "step": step, "timestamp": timestamp})
        assert response.status_code == 201, response.text
    retried = client.post(url, headers=headers, json={  # a client's retry of a call that landed
        "key": "loss", "value": 0.7, "step": 1, "timestamp": 102})
    assert retried.status_code == 201, retried.text
    # Step 2 is the highest; of its two values the later timestamp (103) wins.
    assert client.get(f"{RUNS}/{run['id']}", headers=headers).json()["metrics"] == {"loss": 0.4}

    pages, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(f"{url}/loss/history", params=params, headers=headers).json()
        pages.append([(m["step"], m["value"], m["timestamp"]) for m in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [2, 2, 1]
    assert sum(pages, []) == sorted(logged, key=lambda m: (m[0], m[2]))

    now = int(time.time() * 1000)
    stamped = client.post(url, json={"key": "acc", "value": 0.5}, headers=headers).json()
    assert stamped["step"] == 0 and abs(stamped["timestamp"] - now) < 60_000


def test_non_finite_metric_values_are_stored_and_returned_as_strings(
    client: TestClient, tenant: Actors
):
    run = make_run(client, tenant)
    headers = {**tenant.headers("data_scientist"), "content-type": "application/json"}
    url = f"{RUNS}/{run['id']}/metrics"
    sent = [("nan_metric", math.nan), ("pos", math.inf), ("neg", "-Infinity")]
    for step, (key, value) in enumerate(sent):
        body = json.dumps({"key": key, "value": value, "step": step})  # NaN/Infinity literals
        response = client.post(url, content=body, headers=headers)
        assert response.status_code == 201, response.text
    metrics = client.get(f"{RUNS}/{run['id']}", headers=headers).json()["metrics"]
    assert metrics == {"nan_metric": "NaN", "pos": "Infinity", "neg": "-Infinity"}
    history = client.get(f"{url}/nan_metric/history", headers=headers).json()["items"]
    assert [m["value"] for m in history] == ["NaN"]
    # A later finite value replaces NaN as the latest.
    client.post(url, json={"key": "nan_metric", "value": 2.5, "step": 9}, headers=headers)
    metrics = client.get(f"{RUNS}/{run['id']}", headers=headers).json()["metrics"]
    assert metrics["nan_metric"] == 2.5


def test_tags_set_overwrite_and_delete(client: TestClient, tenant: Actors):
    run = make_run(client, tenant)
    headers = tenant.headers("data_scientist")
    url = f"{RUNS}/{run['id']}/tags"
    client.post(url, json={"key": "stage/name", "value": "a"}, headers=headers)
    client.post(url, json={"key": "stage/name", "value": "b"}, headers=headers)
    client.post(url, json={"key": "owner", "value": "me"}, headers=headers)
    tags = client.get(f"{RUNS}/{run['id']}", headers=headers).json()["tags"]
    assert tags == {"stage/name": "b", "owner": "me"}
    assert client.delete(f"{url}/stage/name", headers=headers).status_code == 204
    assert client.delete(f"{url}/stage/name", headers=headers).status_code == 404
    assert client.get(f"{RUNS}/{run['id']}", headers=headers).json()["tags"] == {"owner": "me"}


def test_batch_writes_everything_in_one_call(client: TestClient, tenant: Actors):
    run = make_run(client, tenant)
    headers = tenant.headers("data_scientist")
    body = {
        "params": [{"key": f"p{i}", "value": str(i)} for i in range(100)],
        "metrics": [{"key": "loss", "value": 1 / (s + 1), "step": s, "timestamp": 1000 + s}
                    for s in range(999)] + [{"key": "acc", "value": 0.9}],
        "tags": [{"key": "t", "value": "1"}, {"key": "t", "value": "2"}],
    }
    response = client.post(f"{RUNS}/{run['id']}/batch", json=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"run_id": run["id"], "params": 100, "metrics": 1000, "tags": 1}
    fetched = client.get(f"{RUNS}/{run['id']}", headers=headers).json()
    assert len(fetched["params"]) == 100 and fetched["tags"] == {"t": "2"}
    assert fetched["metrics"] == {"loss": 1 / 999, "acc": 0.9}
    history = client.get(f"{RUNS}/{run['id']}/metrics/loss/history",
                         params={"limit": 1000}, headers=headers).json()
    assert [m["step"] for m in history["items"]] == list(range(999))


def test_a_second_batch_moves_latest_values_only_forward(client: TestClient, tenant: Actors):
    run = make_run(client, tenant)
    headers = tenant.headers("data_scientist")
    url = f"{RUNS}/{run['id']}/batch"
    first = {"metrics": [{"key": "a", "value": 1.0, "step": 5, "timestamp": 10},
                         {"key": "b", "value": 2.0, "step": 5, "timestamp": 10}],
             "params": [{"key": "lr", "value": "0.1"}, {"key": "depth", "value": "3"}]}
    assert client.post(url, json=first, headers=headers).status_code == 200
    # a: an older step (kept out of latest); b: a later one; c: new. lr again, same value.
    second = {"metrics": [{"key": "a", "value": 9.0, "step": 4, "timestamp": 99},
                          {"key": "b", "value": 3.0, "step": 6, "timestamp": 1},
                          {"key": "c", "value": 0.25, "step": 0, "timestamp": 1}],
              "params": [{"key": "lr", "value": "0.1"}, {"key": "seed", "value": "7"}]}
    response = client.post(url, json=second, headers=headers)
    assert response.status_code == 200, response.text
    fetched = client.get(f"{RUNS}/{run['id']}", headers=headers).json()
    assert fetched["metrics"] == {"a": 1.0, "b": 3.0, "c": 0.25}
    assert fetched["params"] == {"lr": "0.1", "depth": "3", "seed": "7"}
    changed = {"params": [{"key": "seed", "value": "8"}, {"key": "new", "value": "1"}]}
    refused = client.post(url, json=changed, headers=headers)
    assert refused.status_code == 409 and "seed" in refused.json()["detail"]
    assert "new" not in client.get(f"{RUNS}/{run['id']}", headers=headers).json()["params"]


def test_batch_with_one_invalid_item_writes_nothing(client: TestClient, tenant: Actors):
    run = make_run(client, tenant)
    headers = tenant.headers("data_scientist")
    url = f"{RUNS}/{run['id']}"
    client.post(f"{url}/params", json={"key": "lr", "value": "0.1"}, headers=headers)
    good = {
        "params": [{"key": "depth", "value": "3"}],
        "metrics": [{"key": "acc", "value": 0.8, "step": 1}],
        "tags": [{"key": "team", "value": "a"}],
    }
    bad_metric = {**good, "metrics": good["metrics"] + [{"key": "bad key!", "value": 1}]}
    changed_param = {**good, "params": good["params"] + [{"key": "lr", "value": "0.2"}]}
    twice = {**good, "params": [{"key": "d", "value": "1"}, {"key": "d", "value": "2"}]}
    too_many = {**good, "metrics": [{"key": "m", "value": 1, "step": s} for s in range(1001)]}
    too_many_params = {"params": [{"key": f"p{i}", "value": "1"} for i in range(101)]}
    too_many_tags = {"tags": [{"key": f"t{i}", "value": "1"} for i in range(101)]}
    expected = [(bad_metric, 422, "bad key!"), (changed_param, 409, "lr"), (twice, 422, "'d'"),
                (too_many, 422, "1000 metrics"), (too_many_params, 422, "100 params"),
                (too_many_tags, 422, "100 tags")]
    for body, status, words in expected:
        response = client.post(f"{url}/batch", json=body, headers=headers)
        assert response.status_code == status, response.text
        assert words in response.json()["detail"]
    fetched = client.get(url, headers=headers).json()
    assert fetched["params"] == {"lr": "0.1"} and fetched["metrics"] == {}
    assert fetched["tags"] == {}
    history = client.get(f"{url}/metrics/acc/history", headers=headers).json()["items"]
    assert history == []


def test_another_tenants_run_is_404_on_every_route(
    client: TestClient, tenant: Actors, other_tenant: Actors
):
    theirs = make_run(client, other_tenant, tags={"k": "v"})
    headers = tenant.headers("tenant_admin")
    url = f"{RUNS}/{theirs['id']}"
    attempts = [
        client.get(url, headers=headers),
        client.patch(url, json={"status": "KILLED"}, headers=headers),
        client.delete(url, headers=headers),
        client.post(f"{url}/restore", headers=headers),
        client.post(f"{url}/params", json={"key": "a", "value": "b"}, headers=headers),
        client.post(f"{url}/metrics", json={"key": "a", "value": 1}, headers=headers),
        client.post(f"{url}/tags", json={"key": "a", "value": "b"}, headers=headers),
        client.delete(f"{url}/tags/k", headers=headers),
        client.post(f"{url}/batch", json={"tags": [{"key": "a", "value": "b"}]}, headers=headers),
        client.get(f"{url}/metrics/a/history", headers=headers),
    ]
    assert [r.status_code for r in attempts] == [404] * len(attempts)
    untouched = client.get(url, headers=other_tenant.headers("viewer")).json()
    assert untouched["status"] == "RUNNING" and untouched["tags"] == {"k": "v"}
    assert untouched["params"] == {} and untouched["metrics"] == {}


def test_viewer_cannot_write_runs(client: TestClient, tenant: Actors):
    run = make_run(client, tenant)
    viewer = tenant.headers("viewer")
    url = f"{RUNS}/{run['id']}"
    attempts = [
        client.post(RUNS, json={"experiment_id": run["experiment_id"]}, headers=viewer),
        client.patch(url, json={"status": "KILLED"}, headers=viewer),
        client.delete(url, headers=viewer),
        client.post(f"{url}/restore", headers=viewer),
        client.post(f"{url}/params", json={"key": "a", "value": "b"}, headers=viewer),
        client.post(f"{url}/metrics", json={"key": "a", "value": 1}, headers=viewer),
        client.post(f"{url}/tags", json={"key": "a", "value": "b"}, headers=viewer),
        client.delete(f"{url}/tags/a", headers=viewer),
        client.post(f"{url}/batch", json={}, headers=viewer),
    ]
    assert [r.status_code for r in attempts] == [403] * len(attempts)
    assert client.get(url, headers=viewer).json() == run


def test_children_of_several_runs_come_back_each_to_its_own_run(
    client: TestClient, container: Container, tenant: Actors
):
    headers = tenant.headers("data_scientist")
    busy, other, empty = (make_run(client, tenant)["id"] for _ in range(3))
    batch = {"params": [{"key": "lr", "value": "0.1"}, {"key": "depth", "value": "3"}],
             "metrics": [{"key": "loss", "value": 0.5, "step": 1},
                         {"key": "odd", "value": "NaN", "step": 1}],
             "tags": [{"key": "team", "value": "a"}]}
    assert client.post(f"{RUNS}/{busy}/batch", json=batch, headers=headers).status_code == 200
    assert client.post(f"{RUNS}/{other}/batch", json={"params": [{"key": "lr", "value": "9"}]},
                       headers=headers).status_code == 200
    with container.uow.for_tenant(tenant.tenant_id) as uow:
        for name in ("first", "second"):
            uow.runs.add_inputs(busy, [{
                "name": name, "digest": name[:3], "source_type": "local", "source": "s",
                "dataset_schema": "{}", "profile": None, "tags": {"context": name}}])
        uow.commit()

    with container.uow.for_tenant(tenant.tenant_id, write=False) as uow:
        found = uow.runs.children_of([busy, other, empty])

    assert found.params == {busy: {"lr": "0.1", "depth": "3"}, other: {"lr": "9"}, empty: {}}
    assert found.metrics[busy]["loss"] == 0.5 and math.isnan(found.metrics[busy]["odd"])
    assert found.metrics[other] == {} and found.metrics[empty] == {}
    assert found.tags[busy]["team"] == "a" and "team" not in found.tags[other]
    assert [(i["name"], i["digest"], i["schema"], i["profile"], i["tags"])
            for i in found.inputs[busy]] == [("first", "fir", "{}", None, {"context": "first"}),
                                             ("second", "sec", "{}", None, {"context": "second"})]
    assert found.inputs[other] == [] and found.inputs[empty] == []


def test_a_run_whose_tags_cannot_be_stored_is_not_created(client: TestClient, tenant: Actors):
    headers = tenant.headers("data_scientist")
    experiment = client.post("/api/v1/experiments", json={}, headers=headers).json()["id"]
    # A NUL character: PostgreSQL cannot store it in text; SQLite can.
    response = client.post(RUNS, json={"experiment_id": experiment, "name": "nul",
                                       "tags": {"ok": "1", "bad": "a\x00b"}}, headers=headers)
    runs = client.post(f"{RUNS}/search", json={"experiment_ids": [experiment]},
                       headers=headers).json()["items"]
    if response.status_code == 201:
        assert [run["tags"] for run in runs] == [{"ok": "1", "bad": "a\x00b"}]
    else:
        assert response.status_code == 422 and "NUL" in response.json()["detail"]
        assert runs == []  # neither the run nor its other tag


def test_children_of_a_page_larger_than_a_statement_takes(
    client: TestClient, container: Container, tenant: Actors
):
    """More run ids than one statement may bind: PostgreSQL's protocol takes 65,535
    parameters, SQLite 32,766 by default (this machine's build allows more: the test
    lowers it to the default)."""
    run = make_run(client, tenant, tags={"kept": "yes"})["id"]
    ids = [f"{n:032x}" for n in range(70_000)] + [run]
    with container.uow.for_tenant(tenant.tenant_id, write=False) as uow:
        driver = uow.session.connection().connection.driver_connection
        if container.engine.dialect.name == "sqlite":
            previous = driver.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 32_766)
        try:
            found = uow.runs.children_of(ids)
        finally:
            if container.engine.dialect.name == "sqlite":
                driver.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, previous)
    assert found.tags[run] == {"kept": "yes"}
    assert len(found.tags) == len(ids) and not any(found.tags[i] for i in ids[:-1])
