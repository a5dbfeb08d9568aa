"""Ensemble and chain deployments through the API: created, served, and compared with what
the members' own estimators compute; a stacking meta-model trained by the platform."""

from __future__ import annotations

import io
import uuid
from collections import Counter
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sklearn.linear_model import LogisticRegression

from maestro_ml.bootstrap import Container
from tests.factories import Actors
from tests.model_factories import (
    FEATURES,
    TrainedVersion,
    create_model,
    make_model_version,
    sample_rows,
)

DEPLOYMENTS = "/api/v1/deployments"


def _matrix(rows: list[dict[str, Any]]) -> np.ndarray:
    return np.array([[row[name] for name in FEATURES] for row in rows], dtype=np.float64)


@pytest.fixture
def versions(
    client: TestClient, container: Container, tenant: Actors
) -> tuple[str, list[TrainedVersion]]:
    model = create_model(client, tenant)
    trained = [
        make_model_version(container, tenant.tenant_id, model["id"], seed=seed)
        for seed in (0, 4, 8)
    ]
    return model["id"], trained


def _deploy(client: TestClient, tenant: Actors, model_id: str, kind: str,
            composite: dict[str, Any]) -> Any:
    return client.post(DEPLOYMENTS, headers=tenant.headers("ml_engineer"), json={
        "model_id": model_id, "name": f"{kind}-{uuid.uuid4().hex[:8]}", "kind": kind,
        "composite": composite,
    })


def _members(model_id: str, count: int) -> list[dict[str, Any]]:
    return [{"model": model_id, "version": n, "name": f"v{n}"} for n in range(1, count + 1)]


def _predict(client: TestClient, tenant: Actors, name: str, rows: list[dict[str, Any]]) -> dict:
    response = client.post(f"{DEPLOYMENTS}/{name}/predict", json={"instances": rows},
                           headers=tenant.headers("viewer"))
    assert response.status_code == 200, response.text
    return response.json()


def test_soft_voting_ensemble_serves_the_mean_probability(
    client: TestClient, tenant: Actors, versions: tuple[str, list[TrainedVersion]]
) -> None:
    model_id, trained = versions
    created = _deploy(client, tenant, model_id, "ensemble",
                      {"method": "soft_voting", "members": _members(model_id, 3)})
    assert created.status_code == 201, created.text
    rows = sample_rows(25, seed=9)
    body = _predict(client, tenant, created.json()["name"], rows)
    mean = np.mean([v.estimator.predict_proba(_matrix(rows)) for v in trained], axis=0)
    np.testing.assert_allclose(body["probabilities"], mean, rtol=1e-9)
    classes = trained[0].estimator.classes_
    assert body["predictions"] == [str(classes[i]) for i in mean.argmax(axis=1)]


def test_hard_voting_ensemble_serves_the_majority(
    client: TestClient, tenant: Actors, versions: tuple[str, list[TrainedVersion]]
) -> None:
    model_id, trained = versions
    created = _deploy(client, tenant, model_id, "ensemble",
                      {"method": "hard_voting", "members": _members(model_id, 3)})
    assert created.status_code == 201, created.text
    rows = sample_rows(25, seed=10)
    votes = np.stack([v.estimator.predict(_matrix(rows)) for v in trained])
    # Three voters, two classes: the majority is never tied.
    expected = [Counter(column.tolist()).most_common(1)[0][0] for column in votes.T]
    assert _predict(client, tenant, created.json()["name"], rows)["predictions"] == expected


def test_switch_chain_routes_rows_by_a_feature(
    client: TestClient, tenant: Actors, versions: tuple[str, list[TrainedVersion]]
) -> None:
    model_id, trained = versions
    created = _deploy(client, tenant, model_id, "chain", {
        "mode": "switch", "feature": "tenure", "members": _members(model_id, 2),
        "cases": {"10": "v2"}, "default": "v1",
    })
    assert created.status_code == 201, created.text
    rows = [{**row, "tenure": 10 if i % 2 else row["tenure"] or 11}
            for i, row in enumerate(sample_rows(12, seed=11))]
    body = _predict(client, tenant, created.json()["name"], rows)
    expected = [
        trained[1 if row["tenure"] == 10 else 0].estimator.predict(_matrix([row]))[0]
        for row in rows
    ]
    assert body["predictions"] == [str(label) for label in expected]


def _upload_dataset(client: TestClient, tenant: Actors) -> str:
    rows = sample_rows(300, seed=77)
    lines = ["tenure,usage,score,label"]
    for row in rows:
        value = row["tenure"] * 0.1 + row["usage"] * 0.3 - row["score"]
        lines.append(f"{row['tenure']},{row['usage']},{row['score']},"
                     f"{'stays' if value > 6 else 'churns'}")
    response = client.post(
        "/api/v1/datasets", headers=tenant.headers("data_scientist"),
        data={"name": f"holdout-{uuid.uuid4().hex[:6]}"},
        files={"file": ("holdout.csv", io.BytesIO("\n".join(lines).encode()), "text/csv")},
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_stacking_with_a_meta_model_trained_by_the_platform(
    client: TestClient, tenant: Actors, versions: tuple[str, list[TrainedVersion]]
) -> None:
    model_id, trained = versions
    dataset_id = _upload_dataset(client, tenant)
    members = _members(model_id, 2)
    meta = client.post("/api/v1/ensembles/meta-models", headers=tenant.headers("ml_engineer"),
                       json={"config": {"members": members}, "dataset_id": dataset_id,
                             "target": "label"})
    assert meta.status_code == 201, meta.text
    assert meta.json()["classes"] == ["churns", "stays"]
    key = meta.json()["meta_model_key"]

    without = _deploy(client, tenant, model_id, "ensemble",
                      {"method": "stacking", "members": members})
    assert without.status_code == 422
    assert "meta_model_key" in without.text
    created = _deploy(client, tenant, model_id, "ensemble",
                      {"method": "stacking", "members": members, "meta_model_key": key})
    assert created.status_code == 201, created.text

    # The same meta-model by hand: a LogisticRegression on the members' probabilities.
    holdout = sample_rows(300, seed=77)
    truth = ["stays" if r["tenure"] * 0.1 + r["usage"] * 0.3 - r["score"] > 6 else "churns"
             for r in holdout]
    stacked = np.hstack([v.estimator.predict_proba(_matrix(holdout)) for v in trained[:2]])
    by_hand = LogisticRegression(max_iter=1000).fit(stacked, truth)
    rows = sample_rows(20, seed=12)
    features = np.hstack([v.estimator.predict_proba(_matrix(rows)) for v in trained[:2]])
    body = _predict(client, tenant, created.json()["name"], rows)
    np.testing.assert_allclose(body["probabilities"], by_hand.predict_proba(features), atol=1e-6)
    assert body["predictions"] == by_hand.predict(features).tolist()


def test_bad_configurations_are_refused_with_the_field(
    client: TestClient, container: Container, tenant: Actors, other_tenant: Actors,
    versions: tuple[str, list[TrainedVersion]],
) -> None:
    model_id, _ = versions
    regression = create_model(client, tenant, task="regression")
    make_model_version(container, tenant.tenant_id, regression["id"], task="regression")
    mixed = _deploy(client, tenant, model_id, "ensemble", {"method": "hard_voting", "members": [
        {"model": model_id, "version": 1}, {"model": regression["id"], "version": 1},
    ]})
    assert mixed.status_code == 422
    assert "classifier" in mixed.json()["detail"]
    duplicate = _deploy(client, tenant, model_id, "ensemble", {"method": "soft_voting", "members": [
        {"model": model_id, "version": 1}, {"model": model_id, "version": 2},
    ]})
    assert duplicate.status_code == 422
    assert "unique" in duplicate.json()["detail"]
    weight = _deploy(client, tenant, model_id, "ensemble", {"method": "weighted_average",
                     "members": [*_members(model_id, 1), {"model": model_id, "version": 2,
                                                          "name": "b", "weight": -1}]})
    assert weight.status_code == 422
    switch = _deploy(client, tenant, model_id, "chain", {
        "mode": "switch", "feature": "plan", "members": _members(model_id, 2),
        "cases": {"pro": "nobody"},
    })
    assert switch.status_code == 422
    foreign = create_model(client, other_tenant)
    stolen = _deploy(client, tenant, model_id, "ensemble", {"method": "soft_voting", "members": [
        *_members(model_id, 1), {"model": foreign["id"], "version": 1, "name": "x"},
    ]})
    assert stolen.status_code == 404
