"""Registering models trained elsewhere: safe formats, pickles behind the tenant policy, archives.

The pickle tests use payloads whose ``__reduce__`` writes a marker file: with the policy off
the marker must never appear (upload and deploy are refused); with it on it must appear only
from the isolated worker, a process other than this one (the TestClient runs the app here).
"""

from __future__ import annotations

import gc
import io
import json
import os
import pickle
import signal
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import skops.io
import xgboost
from fastapi.testclient import TestClient
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from maestro_ml.bootstrap import Container
from maestro_ml.serving.isolated import IsolatedModel
from tests.factories import Actors, make_tenant
from tests.model_factories import create_model
from tests.pickle_payloads import code_pickle, marker_path, marker_pickle
from tests.unit.ml.test_archives import zip_dotdot, zip_symlink

FEATURES = ["a", "b"]
SIGNATURE = {"inputs": [{"name": "a", "type": "double"}, {"name": "b", "type": "double"}]}
ROWS = [{"a": 0.1, "b": 0.9}, {"a": 0.95, "b": 0.05}, {"a": 0.4, "b": 0.5}]

MLMODEL = """\
artifact_path: model
flavors:
  python_function:
    loader_module: mlflow.sklearn
    model_path: model.pkl
    predict_fn: predict
    python_version: 3.11.0
  sklearn:
    pickled_model: model.pkl
    serialization_format: cloudpickle
    sklearn_version: 1.5.0
signature:
  inputs: '[{"name": "a", "type": "double"}, {"name": "b", "type": "double"}]'
  outputs: '[{"type": "long"}]'
"""


@pytest.fixture(scope="module")
def tenant(client: TestClient, root_token: str) -> Actors:
    return make_tenant(client, root_token)


@pytest.fixture(scope="module")
def permissive(client: TestClient, root_token: str) -> Actors:
    """A tenant whose admin allowed pickle-based models."""
    actors = make_tenant(client, root_token)
    set_policy(client, actors, True)
    return actors


def set_policy(client: TestClient, actors: Actors, allow: bool) -> None:
    response = client.patch(
        f"/api/v1/tenants/{actors.tenant_id}/settings", json={"allow_pickle_models": allow},
        headers=actors.headers("tenant_admin"),
    )
    assert response.status_code == 200, response.text


def classifier(frame: bool = False) -> LogisticRegression:
    x = np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.9, 0.1], [0.1, 0.8], [0.8, 0.3]])
    data = pd.DataFrame(x, columns=FEATURES) if frame else x
    return LogisticRegression().fit(data, ["no", "yes", "no", "yes", "no", "yes"])


def upload(
    client: TestClient, actors: Actors, model_id: str, filename: str, data: bytes,
    signature: dict | None = None, role: str = "data_scientist",
):
    form = {"description": "trained elsewhere"}
    if signature is not None:
        form["signature"] = json.dumps(signature)
    return client.post(
        f"/api/v1/models/{model_id}/versions", files={"file": (filename, data)}, data=form,
        headers=actors.headers(role),
    )


def deploy(client: TestClient, actors: Actors, model_id: str, version: int):
    return client.post("/api/v1/deployments", json={"model_id": model_id, "version": version},
                       headers=actors.headers("ml_engineer"))


def predict(client: TestClient, actors: Actors, name: str, rows: list[dict]):
    return client.post(f"/api/v1/deployments/{name}/predict", json={"instances": rows},
                       headers=actors.headers("viewer"))


def joblib_bytes(model: object) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return buffer.getvalue()


def stored_files(container: Container, actors: Actors, model_id: str) -> list[Path]:
    root = container.artifacts.local_path(
        container.artifacts.tenant_key(actors.tenant_id, f"models/{model_id}")
    )
    return [p for p in root.rglob("*") if p.is_file()] if root and root.exists() else []


def versions(client: TestClient, actors: Actors, model_id: str) -> list[dict]:
    response = client.get(f"/api/v1/models/{model_id}/versions", headers=actors.headers("viewer"))
    return response.json()["items"]


# -- policy off -------------------------------------------------------------------------------
def test_pickle_that_runs_code_is_refused_and_never_unpickled_when_the_policy_is_off(
    client: TestClient, container: Container, tenant: Actors
):
    model = create_model(client, tenant)
    marker = marker_path()

    response = upload(client, tenant, model["id"], "model.pkl", marker_pickle(marker), SIGNATURE)
    no_versions_deploy = deploy(client, tenant, model["id"], 1)

    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "tenant policy forbids pickle-based models" in detail
    enable = f'PATCH /api/v1/tenants/{tenant.tenant_id}/settings {{"allow_pickle_models": true}}'
    assert enable in detail
    assert no_versions_deploy.status_code == 404
    assert versions(client, tenant, model["id"]) == []
    assert stored_files(container, tenant, model["id"]) == []
    assert not marker.exists()


def test_joblib_and_mlflow_uploads_are_refused_when_the_policy_is_off(
    client: TestClient, tenant: Actors
):
    model = create_model(client, tenant)

    joblib_upload = upload(client, tenant, model["id"], "m.joblib", joblib_bytes(classifier()),
                           SIGNATURE)
    mlflow_upload = upload(client, tenant, model["id"], "m.zip", mlflow_zip(classifier()))

    assert joblib_upload.status_code == 422 and mlflow_upload.status_code == 422
    assert "allow_pickle_models" in mlflow_upload.json()["detail"]


def test_a_stored_pickle_cannot_be_deployed_after_the_policy_is_turned_off(
    client: TestClient, root_token: str
):
    actors = make_tenant(client, root_token)
    set_policy(client, actors, True)
    model = create_model(client, actors)
    marker = marker_path()
    stored = upload(client, actors, model["id"], "model.pkl", marker_pickle(marker), SIGNATURE)
    set_policy(client, actors, False)

    refused = deploy(client, actors, model["id"], stored.json()["version"])

    assert stored.status_code == 201, stored.text
    assert refused.status_code == 422
    assert "tenant policy forbids pickle-based models" in refused.json()["detail"]
    assert "allow_pickle_models" in refused.json()["detail"]
    assert not marker.exists()


# -- policy on --------------------------------------------------------------------------------
def test_payload_runs_only_in_the_isolated_worker_when_the_policy_is_on(
    client: TestClient, permissive: Actors
):
    model = create_model(client, permissive)
    marker = marker_path()

    stored = upload(client, permissive, model["id"], "model.pkl", marker_pickle(marker), SIGNATURE)
    after_upload = marker.exists()
    deployed = deploy(client, permissive, model["id"], stored.json()["version"])

    assert stored.status_code == 201, stored.text
    assert stored.json()["format"] == "pickle"
    assert not after_upload  # stored without unpickling
    # The payload ran (in the child), then the child found no model in it.
    assert deployed.status_code == 422 and "isolated worker" in deployed.json()["detail"]
    child_pid = int(marker.read_text())
    assert child_pid != os.getpid()
    marker.unlink()


def test_joblib_model_deploys_and_predicts_through_the_worker(
    client: TestClient, container: Container, permissive: Actors
):
    estimator = classifier()
    model = create_model(client, permissive)

    stored = upload(client, permissive, model["id"], "model.joblib", joblib_bytes(estimator),
                    SIGNATURE)
    deployed = deploy(client, permissive, model["id"], stored.json()["version"])
    answer = predict(client, permissive, deployed.json()["name"], ROWS)

    assert stored.status_code == 201, stored.text
    assert stored.json()["signature"] == SIGNATURE and stored.json()["framework"] == "sklearn"
    assert deployed.status_code == 201, deployed.text
    assert answer.status_code == 200, answer.text
    body = answer.json()
    matrix = np.array([[row["a"], row["b"]] for row in ROWS])
    assert body["predictions"] == estimator.predict(matrix).tolist()
    assert body["classes"] == ["no", "yes"]
    assert np.allclose(body["probabilities"], estimator.predict_proba(matrix))
    loaded = container.model_cache.peek(stored.json()["id"])
    assert isinstance(loaded, IsolatedModel) and loaded.pid not in (None, os.getpid())


def test_worker_is_restarted_after_a_crash_and_stopped_when_evicted(
    client: TestClient, container: Container, permissive: Actors
):
    model = create_model(client, permissive)
    stored = upload(client, permissive, model["id"], "m.pkl", pickle.dumps(classifier()), SIGNATURE)
    name = deploy(client, permissive, model["id"], stored.json()["version"]).json()["name"]
    loaded = container.model_cache.peek(stored.json()["id"])
    first_pid = loaded.pid
    os.killpg(first_pid, signal.SIGKILL)

    answer = predict(client, permissive, name, ROWS[:1])
    second_pid = loaded.pid

    assert answer.status_code == 200, answer.text
    assert second_pid is not None and second_pid != first_pid
    del loaded
    container.model_cache.invalidate(stored.json()["id"])
    gc.collect()
    with pytest.raises(ProcessLookupError):
        os.kill(second_pid, 0)


def test_worker_environment_has_no_secrets_and_its_own_process_group(
    client: TestClient, container: Container, permissive: Actors
):
    model = create_model(client, permissive)
    marker = marker_path()
    payload = code_pickle(
        f"import os, json; open({str(marker)!r}, 'w').write(json.dumps({{'pid': os.getpid(), "
        "'pgid': os.getpgid(0), 'env': sorted(os.environ)}))"
    )
    stored = upload(client, permissive, model["id"], "probe.pkl", payload, SIGNATURE)

    deploy(client, permissive, model["id"], stored.json()["version"])

    seen = json.loads(marker.read_text())
    marker.unlink()
    assert seen["pid"] != os.getpid() and seen["pgid"] == seen["pid"]
    assert not [key for key in seen["env"] if key.startswith("MAESTRO") or "DATABASE" in key]


def test_mlflow_directory_zip_deploys_and_predicts(client: TestClient, permissive: Actors):
    estimator = classifier(frame=True)
    model = create_model(client, permissive, framework="mlflow")

    stored = upload(client, permissive, model["id"], "model.zip", mlflow_zip(estimator))
    deployed = deploy(client, permissive, model["id"], stored.json()["version"])
    answer = predict(client, permissive, deployed.json()["name"], ROWS)

    assert stored.status_code == 201, stored.text
    assert stored.json()["format"] == "mlflow-pyfunc" and stored.json()["framework"] == "mlflow"
    assert stored.json()["signature"]["inputs"] == SIGNATURE["inputs"]
    assert answer.status_code == 200, answer.text
    expected = estimator.predict(pd.DataFrame(ROWS, columns=FEATURES)).tolist()
    assert answer.json()["predictions"] == expected


def test_pickle_without_a_signature_is_refused(client: TestClient, permissive: Actors):
    model = create_model(client, permissive)

    response = upload(client, permissive, model["id"], "m.pkl", pickle.dumps(classifier()))

    assert response.status_code == 422
    assert "pickle-based models need a signature" in response.json()["detail"]


# -- safe formats -----------------------------------------------------------------------------
def test_skops_upload_infers_the_signature_and_serves(client: TestClient, tenant: Actors):
    estimator = Pipeline([("scale", StandardScaler()), ("model", classifier(frame=True))])
    estimator.fit(pd.DataFrame([[0, 1], [1, 0], [0.2, 0.7], [0.8, 0.1]], columns=FEATURES),
                  ["no", "yes", "no", "yes"])
    model = create_model(client, tenant)

    stored = upload(client, tenant, model["id"], "model.skops", skops.io.dumps(estimator))
    deployed = deploy(client, tenant, model["id"], stored.json()["version"])
    answer = predict(client, tenant, deployed.json()["name"], ROWS)

    assert stored.status_code == 201, stored.text
    assert stored.json()["format"] == "skops" and stored.json()["version"] == 1
    assert stored.json()["signature"] == SIGNATURE
    assert stored.json()["description"] == "trained elsewhere"
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"] == estimator.predict(pd.DataFrame(ROWS)).tolist()


def test_skops_with_untrusted_types_is_refused_naming_them(
    client: TestClient, container: Container, tenant: Actors
):
    estimator = Pipeline([("save", FunctionTransformer(np.save)), ("model", classifier())])
    model = create_model(client, tenant)

    response = upload(client, tenant, model["id"], "model.skops", skops.io.dumps(estimator))

    assert response.status_code == 422
    assert "numpy.save" in response.json()["detail"]
    assert stored_files(container, tenant, model["id"]) == []


def test_xgboost_json_upload_with_a_signature_serves(
    client: TestClient, tenant: Actors, tmp_path: Path
):
    x = np.random.default_rng(0).normal(size=(60, 2))
    estimator = xgboost.XGBClassifier(n_estimators=5, max_depth=2).fit(x, (x[:, 0] > 0).astype(int))
    estimator.save_model(str(tmp_path / "model.json"))
    model = create_model(client, tenant, framework="xgboost")

    stored = upload(client, tenant, model["id"], "model.json",
                    (tmp_path / "model.json").read_bytes(), SIGNATURE)
    deployed = deploy(client, tenant, model["id"], stored.json()["version"])
    answer = predict(client, tenant, deployed.json()["name"], ROWS)

    assert stored.status_code == 201, stored.text
    assert stored.json()["format"] == "xgboost-json"
    matrix = np.array([[row["a"], row["b"]] for row in ROWS])
    assert answer.json()["predictions"] == estimator.predict(matrix).tolist()


def test_signature_that_does_not_match_the_model_is_refused(client: TestClient, tenant: Actors):
    model = create_model(client, tenant)
    wrong = {"inputs": [{"name": "x", "type": "double"}, {"name": "y", "type": "double"}]}

    response = upload(client, tenant, model["id"], "m.skops",
                      skops.io.dumps(classifier(frame=True)), wrong)

    assert response.status_code == 422 and "do not match" in response.json()["detail"]


# -- archives, permissions, isolation ---------------------------------------------------------
@pytest.mark.parametrize("build", [zip_symlink, zip_dotdot])
def test_malicious_archives_are_refused_and_nothing_is_stored(
    client: TestClient, container: Container, permissive: Actors, tmp_path: Path, build
):
    model = create_model(client, permissive)
    archive = build(tmp_path / "evil.zip")

    response = upload(client, permissive, model["id"], "evil.zip", archive.read_bytes(), SIGNATURE)

    assert response.status_code == 422 and "unsafe or unreadable archive" in response.text
    assert stored_files(container, permissive, model["id"]) == []


def test_uploading_needs_models_write_and_another_tenants_model_is_not_found(
    client: TestClient, tenant: Actors, other_tenant: Actors
):
    model = create_model(client, tenant)
    data = skops.io.dumps(classifier(frame=True))

    viewer = upload(client, tenant, model["id"], "m.skops", data, role="viewer")
    stranger = upload(client, other_tenant, model["id"], "m.skops", data)

    assert viewer.status_code == 403
    assert stranger.status_code == 404


def mlflow_zip(estimator: object) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("model/MLmodel", MLMODEL)
        bundle.writestr("model/model.pkl", pickle.dumps(estimator))
        bundle.writestr("model/requirements.txt", "scikit-learn\n")
    return buffer.getvalue()


def test_an_upload_without_a_file_is_refused_naming_the_field(client: TestClient, tenant: Actors):
    model = create_model(client, tenant)

    response = client.post(f"/api/v1/models/{model['id']}/versions", data={"description": "x"},
                           headers=tenant.headers("data_scientist"))

    assert response.status_code == 422 and response.json()["detail"].startswith("file:")


def test_lightgbm_text_upload_serves_with_class_indices(
    client: TestClient, tenant: Actors, tmp_path: Path
):
    import lightgbm

    x = np.random.default_rng(1).normal(size=(80, 2))
    estimator = lightgbm.LGBMClassifier(n_estimators=5, verbose=-1)
    estimator.fit(pd.DataFrame(x, columns=FEATURES), (x[:, 1] > 0).astype(int))
    estimator.booster_.save_model(str(tmp_path / "model.txt"))
    model = create_model(client, tenant, framework="lightgbm")

    stored = upload(client, tenant, model["id"], "model.txt", (tmp_path / "model.txt").read_bytes())
    deployed = deploy(client, tenant, model["id"], stored.json()["version"])
    answer = predict(client, tenant, deployed.json()["name"], ROWS)

    assert stored.status_code == 201, stored.text
    assert stored.json()["format"] == "lightgbm-text" and stored.json()["signature"] == SIGNATURE
    assert answer.json()["classes"] == [0, 1]
    assert answer.json()["predictions"] == estimator.predict(pd.DataFrame(ROWS)).tolist()


def test_a_maestro_model_directory_as_tar_gz_keeps_its_metadata(
    client: TestClient, tenant: Actors, tmp_path: Path
):
    import tarfile

    from maestro_ml.ml.model_io import save_model

    estimator = classifier(frame=True)
    save_model(estimator, tmp_path / "model", {
        "task": "classification", "feature_names": FEATURES, "classes": ["no", "yes"],
        "signature": SIGNATURE,
    })
    with tarfile.open(tmp_path / "model.tar.gz", "w:gz") as bundle:
        bundle.add(tmp_path / "model", arcname="model")
    model = create_model(client, tenant)

    stored = upload(client, tenant, model["id"], "model.tar.gz",
                    (tmp_path / "model.tar.gz").read_bytes())
    second = upload(client, tenant, model["id"], "model.tar.gz",
                    (tmp_path / "model.tar.gz").read_bytes())

    assert stored.status_code == 201, stored.text
    assert stored.json()["format"] == "skops" and stored.json()["signature"] == SIGNATURE
    assert (stored.json()["version"], second.json()["version"]) == (1, 2)
