"""MLflow's four scoring payloads through the native predict endpoint.

Each body is built the way MLflow clients build it (pandas ``to_dict``/``to_json`` orients,
the TF-serving ``instances``/``inputs`` forms, with ``params`` riding along), checked against
MLflow's own scoring-server parser so the rows we read are the rows MLflow would read, and
then predicted by Maestro.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from mlflow.pyfunc.scoring_server import infer_and_parse_data

from maestro_ml.bootstrap import Container
from maestro_ml.domain.payloads import rows_from_payload
from tests.factories import Actors, make_tenant
from tests.model_factories import FEATURES, create_model, make_model_version, sample_rows

ROWS = sample_rows(6, seed=21)
FRAME = pd.DataFrame(ROWS, columns=FEATURES)


def _bodies() -> dict[str, dict[str, Any]]:
    return {
        "dataframe_split": {
            "dataframe_split": json.loads(FRAME.to_json(orient="split", double_precision=15))
        },
        "dataframe_split_no_index": {
            "dataframe_split": {"columns": FEATURES, "data": FRAME.values.tolist()}
        },
        "dataframe_records": {"dataframe_records": FRAME.to_dict(orient="records")},
        "instances": {"instances": FRAME.to_dict(orient="records")},
        "inputs_columns": {"inputs": FRAME.to_dict(orient="list")},
        "inputs_records": {"inputs": FRAME.to_dict(orient="records")},
        "with_params": {"dataframe_records": FRAME.to_dict(orient="records"), "params": {}},
    }


BODIES = _bodies()


@pytest.fixture(scope="module")
def tenant(client: TestClient, root_token: str) -> Actors:
    return make_tenant(client, root_token)


@pytest.fixture(scope="module")
def served(client: TestClient, container: Container, tenant: Actors) -> dict:
    model = create_model(client, tenant)
    version = make_model_version(container, tenant.tenant_id, model["id"], seed=2)
    response = client.post("/api/v1/deployments", json={"model_id": model["id"]},
                           headers=tenant.headers("ml_engineer"))
    assert response.status_code == 201, response.text
    return {"name": response.json()["name"], "version": version}


def _values(rows: list[dict[str, Any]]) -> list[list[float]]:
    return [[float(row[name]) for name in FEATURES] for row in rows]


@pytest.mark.parametrize("shape", sorted(BODIES))
def test_we_read_the_rows_mlflow_reads(shape: str) -> None:
    body = {key: value for key, value in BODIES[shape].items() if key != "params"}
    mlflow_rows = pd.DataFrame(infer_and_parse_data(body)).to_dict(orient="records")

    ours = rows_from_payload(json.loads(json.dumps(BODIES[shape])), max_rows=100)

    assert _values(mlflow_rows) == _values(ours)


@pytest.mark.parametrize("shape", sorted(BODIES))
def test_every_mlflow_shape_predicts_through_the_native_endpoint(
    client: TestClient, tenant: Actors, served: dict, shape: str
) -> None:
    response = client.post(f"/api/v1/deployments/{served['name']}/predict",
                           json=BODIES[shape], headers=tenant.headers("viewer"))

    assert response.status_code == 200, response.text
    body = response.json()
    # MLflow clients read "predictions"; the values are the model's own.
    assert body["predictions"] == served["version"].expected(ROWS)
    assert len(body["probabilities"]) == len(ROWS)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"dataframe_split": {"columns": FEATURES}}, "'columns' and 'data'"),
        ({"dataframe_split": {"columns": FEATURES, "data": [[1, 2]]}}, "3 columns"),
        ({"dataframe_records": {"tenure": 1}}, "list of objects"),
        ({"inputs": {"tenure": [1, 2], "usage": [1.0]}}, "different lengths"),
        ({"instances": ROWS, "inputs": ROWS}, "send exactly one input shape"),
    ],
)
def test_malformed_mlflow_payloads_are_422_with_the_reason(
    client: TestClient, tenant: Actors, served: dict, body: dict, words: str
) -> None:
    response = client.post(f"/api/v1/deployments/{served['name']}/predict",
                           json=body, headers=tenant.headers("viewer"))

    assert response.status_code == 422, response.text
    assert words in response.json()["detail"]
