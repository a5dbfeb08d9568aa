"""A canary of a deliberately failing model is rolled back by the live server on its own."""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Callable

import httpx
import numpy as np
import pytest
import skops.io
from sklearn.linear_model import LogisticRegression

import maestro_ml
from tests.e2e.conftest import Server
from tests.factories import Actors

pytestmark = pytest.mark.e2e

FEATURES = ["a", "b", "c"]
SIGNATURE = {"inputs": [{"name": n, "type": "double"} for n in FEATURES],
             "outputs": [{"name": "y", "type": "long"}]}


def skops_model(columns: int) -> bytes:
    """A classifier fitted on ``columns`` numeric columns. Registered with the three-feature
    signature, a four-column model fails on every request."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, columns))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    return skops.io.dumps(LogisticRegression().fit(x, y))


def upload(http: httpx.Client, headers: dict, model_id: str, columns: int) -> int:
    response = http.post(
        f"/api/v1/models/{model_id}/versions", headers=headers,
        files={"file": ("model.skops", io.BytesIO(skops_model(columns)))},
        data={"signature": json.dumps(SIGNATURE)},
    )
    assert response.status_code == 201, response.text
    return int(response.json()["version"])


def test_failing_canary_is_rolled_back_automatically(
    server: Server, actors: Actors, client_for: Callable[[str], maestro_ml.Client]
) -> None:
    engineer = actors.headers("ml_engineer")
    with httpx.Client(base_url=server.url, timeout=30) as http:
        model = http.post("/api/v1/models", headers=engineer, json={
            "name": f"canary-{uuid.uuid4().hex[:8]}", "task": "classification",
            "framework": "sklearn"}).json()
        good = upload(http, engineer, model["id"], 3)
        bad = upload(http, engineer, model["id"], 4)
        deployment = http.post("/api/v1/deployments", headers=engineer,
                               json={"model_id": model["id"], "version": good})
        assert deployment.status_code == 201, deployment.text
        name = deployment.json()["name"]
        canary = http.patch(f"/api/v1/deployments/{name}", headers=engineer, json={
            "version": bad, "strategy": "canary", "reason": "try the new model",
            "canary": {"steps": [50, 100], "min_requests": 20, "max_error_rate": 0.1}})
        assert canary.status_code == 200, canary.text
        assert {v["role"] for v in canary.json()["variants"]} == {"primary", "canary"}

        rng = np.random.default_rng(1)
        statuses = []
        deadline = time.monotonic() + 60
        state = canary.json()
        while time.monotonic() < deadline and state["strategy"] == "canary":
            for _ in range(10):
                row = dict(zip(FEATURES, rng.normal(size=3).tolist(), strict=True))
                statuses.append(http.post(
                    f"/api/v1/deployments/{name}/predict", headers=actors.headers("viewer"),
                    json={"features": row}).status_code)
            time.sleep(0.5)
            state = http.get(f"/api/v1/deployments/{name}", headers=engineer).json()

        assert state["strategy"] == "rolling" and state["version"] == good
        assert [v["role"] for v in state["variants"]] == ["primary"]
        assert 422 in statuses  # the canary really failed before it was pulled back
        history = http.get(f"/api/v1/deployments/{name}/revisions", headers=engineer).json()
        assert history[0]["created_by"] is None and "error rate" in history[0]["reason"]
        assert history[1]["state"] == "rolled_back"
        after = [http.post(f"/api/v1/deployments/{name}/predict",
                           headers=actors.headers("viewer"),
                           json={"features": {"a": 0.1, "b": 0.2, "c": 0.3}}).status_code
                 for _ in range(10)]
        assert after == [200] * 10

    sdk = client_for("ml_engineer").deployments
    assert [r.state for r in sdk.revisions(name)][:2] == ["active", "rolled_back"]
    again = sdk.rollback(name, revision=2, reason="once more, by hand")
    assert again.revision == 4 and again.strategy == "canary"
    aborted = sdk.abort_canary(name)
    assert aborted.version == good and sdk.predict(name, features={"a": 1, "b": 2, "c": 3},
                                                   routing_key="k").variant == "primary"
