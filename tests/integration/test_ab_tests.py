"""A/B tests against the live app: an ab_test deployment of a good and a deliberately weak
classifier, predictions fed back with their true labels, and the report's verdict."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
from fastapi.testclient import TestClient

from maestro_ml.bootstrap import Container
from tests.factories import Actors
from tests.model_factories import create_model, make_model_version, sample_rows

DEPLOYMENTS = "/api/v1/deployments"


def true_label(row: dict[str, Any]) -> str:
    """The rule the factory's seed-0 model learned (the good variant)."""
    value = row["tenure"] * 0.1 + row["usage"] * 0.3 - row["score"]
    return "stays" if value > 6 else "churns"


def _ab_deployment(client: TestClient, container: Container, tenant: Actors) -> str:
    model = create_model(client, tenant)
    make_model_version(container, tenant.tenant_id, model["id"], seed=0)  # ~96 % right
    make_model_version(container, tenant.tenant_id, model["id"], seed=8)  # ~56 % right
    name = f"ab-{uuid.uuid4().hex[:8]}"
    response = client.post(DEPLOYMENTS, headers=tenant.headers("ml_engineer"), json={
        "model_id": model["id"], "name": name, "strategy": "ab_test", "log_sample_rate": 0.0,
        "variants": [
            {"name": "good", "role": "primary", "version": 1, "weight": 50},
            {"name": "weak", "role": "challenger", "version": 2, "weight": 50},
        ],
    })
    assert response.status_code == 201, response.text
    return name


def _predict_and_feed_back(
    client: TestClient, tenant: Actors, name: str, rows: list[dict[str, Any]]
) -> dict[str, int]:
    served: dict[str, int] = {}
    for row in rows:
        predicted = client.post(
            f"{DEPLOYMENTS}/{name}/predict", json={"features": row},
            headers=tenant.headers("viewer"),
        )
        assert predicted.status_code == 200, predicted.text
        body = predicted.json()
        served[body["variant"]] = served.get(body["variant"], 0) + 1
        # Not sampled (rate 0), yet findable: an A/B deployment keeps every id.
        feedback = client.post(
            f"/api/v1/predictions/{body['prediction_id']}/feedback",
            json={"label": true_label(row)}, headers=tenant.headers("data_scientist"),
        )
        assert feedback.status_code == 201, feedback.text
    return served


def _report(client: TestClient, tenant: Actors, name: str, **params: Any) -> dict[str, Any]:
    response = client.get(
        f"{DEPLOYMENTS}/{name}/ab-test", params=params, headers=tenant.headers("viewer")
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_fed_back_labels_give_a_verdict_for_the_better_variant(
    client: TestClient, container: Container, tenant: Actors, other_tenant: Actors
) -> None:
    name = _ab_deployment(client, container, tenant)
    rows = sample_rows(200, seed=42)
    _predict_and_feed_back(client, tenant, name, rows[:10])
    early = _report(client, tenant, name, min_samples=60)
    assert early["verdict"] == "insufficient data"
    assert early["winner"] is None

    served = _predict_and_feed_back(client, tenant, name, rows[10:])
    assert set(served) == {"good", "weak"}
    report = _report(client, tenant, name, min_samples=60)
    assert report["metric"] == "accuracy"
    assert report["test"] == "chi-square"
    variants = {v["name"]: v for v in report["variants"]}
    assert sum(v["n"] for v in variants.values()) == 200
    assert variants["good"]["metric"] > variants["weak"]["metric"]
    assert variants["good"]["ci_low"] > variants["weak"]["ci_high"]
    assert report["p_value"] < 0.05
    assert report["verdict"] == "good is better"
    assert report["winner"] == "good"

    revision = client.get(f"{DEPLOYMENTS}/{name}", headers=tenant.headers("viewer")).json()
    same = _report(client, tenant, name, min_samples=60, revision=revision["revision"])
    assert same["verdict"] == "good is better"
    later = _report(client, tenant, name, min_samples=60, revision=revision["revision"] + 1)
    assert later["verdict"] == "insufficient data"
    assert all(v["n"] == 0 for v in later["variants"])

    hidden = client.get(f"{DEPLOYMENTS}/{name}/ab-test", headers=other_tenant.headers("viewer"))
    assert hidden.status_code == 404


def test_regressor_feedback_is_scored_by_rmse(
    client: TestClient, container: Container, tenant: Actors
) -> None:
    model = create_model(client, tenant, task="regression")
    good = make_model_version(container, tenant.tenant_id, model["id"], task="regression", seed=0)
    make_model_version(container, tenant.tenant_id, model["id"], task="regression", seed=3)
    name = f"ab-{uuid.uuid4().hex[:8]}"
    response = client.post(DEPLOYMENTS, headers=tenant.headers("ml_engineer"), json={
        "model_id": model["id"], "name": name, "strategy": "ab_test",
        "variants": [
            {"name": "exact", "role": "primary", "version": 1, "weight": 50},
            {"name": "offset", "role": "challenger", "version": 2, "weight": 50},
        ],
    })
    assert response.status_code == 201, response.text
    rows = sample_rows(60, seed=5)
    truths = good.expected(rows)  # version 1 fits the truth exactly; version 2 is off by 3
    noise = np.random.default_rng(0).normal(0, 0.5, len(rows))
    for row, truth, jitter in zip(rows, truths, noise, strict=True):
        body = client.post(f"{DEPLOYMENTS}/{name}/predict", json={"features": row},
                           headers=tenant.headers("viewer")).json()
        feedback = client.post(
            f"/api/v1/predictions/{body['prediction_id']}/feedback",
            json={"value": float(truth + jitter)}, headers=tenant.headers("data_scientist"),
        )
        assert feedback.status_code == 201, feedback.text
    report = _report(client, tenant, name, min_samples=15)
    assert report["metric"] == "rmse"
    assert report["test"] == "welch t-test"
    variants = {v["name"]: v for v in report["variants"]}
    assert variants["exact"]["metric"] < 1.0 < variants["offset"]["metric"]
    assert report["verdict"] == "exact is better"
