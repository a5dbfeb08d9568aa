"""Every field of every MLflow request Maestro serves, given the wrong type or hostile text.

The fields come from MLflow's own protocol (the installed package's ``service.proto`` and
``model_registry.proto`` descriptors), so an endpoint added later is probed too. Each field
in turn gets values of the wrong JSON type and strings holding NUL, while the rest of the
request names the caller's own objects. Expected: never a 5xx, every refusal in MLflow's
error format, and no audit event lost on the way (the audit writer logs nothing).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient
from google.protobuf.descriptor import FieldDescriptor
from mlflow.protos import databricks_pb2, model_registry_pb2, service_pb2

from tests.factories import unique

from .conftest import Tally, World
from .probing import api_routes

STRING_VALUES: tuple[Any, ...] = (7, ["x"], {"k": 1}, "nul\x00inside")
NUMBER_VALUES: tuple[Any, ...] = ("seven", 2**70, 1.5, True)
HOSTILE = {
    FieldDescriptor.TYPE_STRING: STRING_VALUES,
    FieldDescriptor.TYPE_BYTES: STRING_VALUES,
    FieldDescriptor.TYPE_INT64: NUMBER_VALUES,
    FieldDescriptor.TYPE_INT32: NUMBER_VALUES,
    FieldDescriptor.TYPE_UINT64: NUMBER_VALUES,
    FieldDescriptor.TYPE_DOUBLE: ("NaNs", [], {"k": 1}, True),
    FieldDescriptor.TYPE_BOOL: ("yes", 2, []),
    FieldDescriptor.TYPE_ENUM: ("NOT_A_VALUE", 99, []),
}
REPEATED = ("x", [7], [None], [[]], [{"key": 7, "value": ["x"]}], [{"key": "k\x00"}])
MESSAGE = ("x", [], 7, {"key": [], "value": {}})


def mlflow_endpoints(served: set[tuple[str, str]]) -> list[tuple[str, str, Any]]:
    """(method, path, request descriptor) of every MLflow RPC that Maestro serves."""
    found = []
    for module, service in ((service_pb2, "MlflowService"),
                            (model_registry_pb2, "ModelRegistryService")):
        for rpc in module.DESCRIPTOR.services_by_name[service].methods:
            for endpoint in rpc.GetOptions().Extensions[databricks_pb2.rpc].endpoints:
                path = f"/api/{endpoint.since.major}.0{endpoint.path}"
                if (endpoint.method, path) in served:
                    found.append((endpoint.method, path, rpc.input_type))
    return found


def hostile_values(field: FieldDescriptor) -> tuple[Any, ...]:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return REPEATED if field.is_repeated else MESSAGE
    values = HOSTILE.get(field.type, STRING_VALUES)
    return (*values, "x", [{}]) if field.is_repeated else values


def own_objects(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    """Valid values for the fields that name objects: the caller's own."""
    mlflow = "/api/2.0/mlflow"
    experiment = client.post(f"{mlflow}/experiments/create", json={"name": unique("fields")},
                             headers=headers).json()["experiment_id"]
    run = client.post(f"{mlflow}/runs/create", json={"experiment_id": experiment},
                      headers=headers).json()["run"]["info"]["run_id"]
    model = unique("fields-model")
    assert client.post(f"{mlflow}/registered-models/create", json={"name": model},
                       headers=headers).status_code == 200
    logged = client.post(f"{mlflow}/logged-models", json={"experiment_id": experiment},
                         headers=headers).json()["model"]["info"]["model_id"]
    return {"experiment_id": experiment, "experiment_ids": [experiment], "run_id": run,
            "run_uuid": run, "name": model, "experiment_name": unique("e"), "key": "k",
            "metric_key": "k", "model_id": logged, "version": "1", "alias": "a"}


def send(client: TestClient, method: str, path: str, headers: dict[str, str],
         body: dict[str, Any]) -> Any:
    if method == "GET":
        params = {k: v if isinstance(v, str) else str(v) for k, v in body.items()}
        return client.get(path, params=params, headers=headers)
    return client.request(method, path, json=body, headers=headers)


def test_no_mlflow_field_of_the_wrong_type_or_with_nul_fails_the_server(
    client: TestClient, world: World, tally: Tally, caplog: pytest.LogCaptureFixture
):
    headers = world.attacker.headers()
    served = {(method, path) for method, path, _ in api_routes(client.app)}
    endpoints = mlflow_endpoints(served)
    assert len(endpoints) >= 40, endpoints  # the protocol's tracking and registry calls
    base = own_objects(client, headers)
    tried, violations = 0, []
    with caplog.at_level(logging.ERROR, logger="maestro_ml"):
        for method, path, message in endpoints:
            valid = {f.name: base[f.name] for f in message.fields if f.name in base}
            for field in message.fields:
                for value in hostile_values(field):
                    response = send(client, method, path, headers, {**valid, field.name: value})
                    tried += 1
                    if response.status_code >= 500:
                        violations.append(f"{method} {path} {field.name}={value!r}: "
                                          f"{response.status_code} {response.text[:160]}")
                    elif response.status_code >= 400 and "error_code" not in response.json():
                        violations.append(f"{method} {path} {field.name}={value!r}: "
                                          f"not MLflow's error format: {response.text[:160]}")
        # Refused writes are audited as denied, naming what their bodies named: a viewer's.
        viewer = world.attacker.headers("viewer")
        for method, path, message in endpoints:
            if method != "POST":
                continue
            valid = {f.name: base[f.name] for f in message.fields if f.name in base}
            for field in message.fields:
                if field.type != FieldDescriptor.TYPE_STRING or field.is_repeated:
                    continue
                response = send(client, method, path, viewer, {**valid, field.name: "n\x00ul"})
                tried += 1
                if response.status_code >= 500 or "error_code" not in response.json():
                    violations.append(f"viewer {method} {path} {field.name}: "
                                      f"{response.status_code} {response.text[:160]}")
    logged = [record.getMessage() for record in caplog.records]
    tally.record("MLflow fields", tried, violations + logged)
    assert violations == []
    assert logged == []  # an audit event that could not be written would be logged here
    assert tried >= 500
