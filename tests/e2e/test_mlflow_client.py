"""The real ``mlflow`` client against a live Maestro server: scripts keep working unchanged.

Each test points ``MLFLOW_TRACKING_URI`` at the server and ``MLFLOW_TRACKING_TOKEN`` at a
Maestro API key (or ``MLFLOW_TRACKING_USERNAME``/``PASSWORD`` at a user's email and
password), exactly as a user would.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from tests.e2e.conftest import Server
from tests.factories import PASSWORD, Actors, make_tenant


@pytest.fixture
def as_engineer(server: Server, actors: Actors, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", actors.keys["ml_engineer"])
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    # The fluent API remembers the last set_experiment per process; each test starts afresh.
    monkeypatch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)
    mlflow.set_tracking_uri(server.url)
    yield
    while mlflow.active_run():
        mlflow.end_run()


@pytest.fixture(scope="module")
def other_tenant(server: Server, root_token: str) -> Actors:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        return make_tenant(http, root_token)


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_fluent_logging_round_trips(as_engineer: None, tmp_path: Path):
    mlflow.set_experiment(name("fluent"))
    with mlflow.start_run(run_name="first") as run:
        mlflow.log_param("alpha", "0.5")
        mlflow.log_params({"depth": 3, "kind": "rf"})
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_metrics({"acc": 0.93, "nan_metric": math.nan})
        mlflow.set_tags({"team": "a", "stage": "dev"})
        (tmp_path / "notes.txt").write_text("hello")
        (tmp_path / "plots").mkdir()
        (tmp_path / "plots" / "a.csv").write_text("x,y\n1,2\n")
        (tmp_path / "plots" / "deep").mkdir()
        (tmp_path / "plots" / "deep" / "b.json").write_text("{}")
        mlflow.log_artifact(str(tmp_path / "notes.txt"))
        mlflow.log_artifacts(str(tmp_path / "plots"), artifact_path="plots")
    client = MlflowClient()
    fetched = client.get_run(run.info.run_id)
    assert fetched.info.status == "FINISHED" and fetched.info.run_name == "first"
    assert fetched.data.params == {"alpha": "0.5", "depth": "3", "kind": "rf"}
    assert fetched.data.metrics["loss"] == pytest.approx(0.2)
    assert math.isnan(fetched.data.metrics["nan_metric"])
    assert fetched.data.tags["team"] == "a"
    history = client.get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in history] == [0, 1, 2, 3, 4]
    listed = {f.path: f.is_dir for f in client.list_artifacts(run.info.run_id)}
    assert listed == {"notes.txt": False, "plots": True}
    nested = [f.path for f in client.list_artifacts(run.info.run_id, "plots")]
    assert nested == ["plots/a.csv", "plots/deep"]
    local = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, dst_path=str(tmp_path / "dl")
    )
    assert (Path(local) / "plots" / "deep" / "b.json").read_text() == "{}"
    assert (Path(local) / "notes.txt").read_text() == "hello"


def test_batches_and_immutable_params(as_engineer: None):
    client = MlflowClient()
    experiment_id = client.create_experiment(name("batch"))
    run = client.create_run(experiment_id)
    from mlflow.entities import Metric, Param, RunTag

    metrics = [Metric("m", float(i), 1_700_000_000_000 + i, i) for i in range(1000)]
    client.log_batch(run.info.run_id, metrics=metrics, params=[Param("p", "1")],
                     tags=[RunTag("t", "x")])
    assert len(client.get_metric_history(run.info.run_id, "m")) == 1000
    client.log_param(run.info.run_id, "p", "1")  # the same value again is fine
    with pytest.raises(MlflowException) as refused:
        client.log_param(run.info.run_id, "p", "2")
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    # The client splits a batch over the server's limits into several calls.
    client.log_batch(run.info.run_id, metrics=metrics + [Metric("m", 5.0, 1, 5000)])
    assert client.get_run(run.info.run_id).data.metrics["m"] == 5.0


def test_default_experiment_nested_runs_and_search(as_engineer: None):
    # No set_experiment: MLflow's experiment "0".
    with mlflow.start_run() as parent, mlflow.start_run(nested=True) as child:
        mlflow.log_metric("score", 0.7)
    client = MlflowClient()
    assert client.get_run(child.info.run_id).data.tags["mlflow.parentRunId"] == parent.info.run_id
    default = client.get_experiment("0")
    assert default.name == "Default"
    assert parent.info.experiment_id == default.experiment_id

    experiment_id = client.create_experiment(name("search"), tags={"team": "x"})
    for i in range(6):
        r = client.create_run(experiment_id, run_name=f"r{i}")
        client.log_metric(r.info.run_id, "acc", i / 10)
        client.log_param(r.info.run_id, "i", str(i))
        client.set_terminated(r.info.run_id)
    frame = mlflow.search_runs(
        experiment_ids=[experiment_id], filter_string="metrics.acc > 0.25",
        order_by=["metrics.acc DESC"],
    )
    assert list(frame["metrics.acc"]) == [0.5, 0.4, 0.3]
    assert list(frame["params.i"]) == ["5", "4", "3"]
    page = client.search_runs([experiment_id], "params.i = '2' and attributes.status = 'FINISHED'")
    assert [r.info.run_name for r in page] == ["r2"]
    paged = client.search_runs([experiment_id], max_results=4)
    assert len(paged) == 4 and paged.token
    rest = client.search_runs([experiment_id], max_results=4, page_token=paged.token)
    assert len(rest) == 2 and not rest.token
    found = client.search_experiments(filter_string="tags.team = 'x'")
    assert [e.experiment_id for e in found] == [experiment_id]


def test_delete_and_restore(as_engineer: None):
    client = MlflowClient()
    experiment_id = client.create_experiment(name("lifecycle"))
    run = client.create_run(experiment_id)
    client.delete_run(run.info.run_id)
    assert client.get_run(run.info.run_id).info.lifecycle_stage == "deleted"
    assert client.search_runs([experiment_id]) == []
    with pytest.raises(MlflowException):
        client.log_metric(run.info.run_id, "x", 1.0)
    client.restore_run(run.info.run_id)
    client.log_metric(run.info.run_id, "x", 1.0)
    client.delete_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "deleted"
    client.restore_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "active"


def test_sklearn_autolog(as_engineer: None):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    mlflow.set_experiment(name("autolog"))
    mlflow.sklearn.autolog(log_models=False)
    try:
        x, y = load_iris(return_X_y=True)
        with mlflow.start_run() as run:
            LogisticRegression(max_iter=200).fit(x, y)
    finally:
        mlflow.sklearn.autolog(disable=True)
    got = MlflowClient().get_run(run.info.run_id)
    assert got.data.params["max_iter"] == "200"
    assert "training_score" in got.data.metrics
    # autolog logged the training data as the run's input: searchable by name and context
    logged = got.inputs.dataset_inputs[0]
    assert {t.key: t.value for t in logged.tags}["mlflow.data.context"] == "train"
    for text in ("dataset.context = 'train'", f"dataset.name = '{logged.dataset.name}'",
                 f"datasets.digest = '{logged.dataset.digest}'"):
        found = mlflow.search_runs(filter_string=text, output_format="list")
        assert [r.info.run_id for r in found] == [run.info.run_id], text
    assert mlflow.search_runs(filter_string="dataset.context = 'eval'", output_format="list") == []


def test_basic_auth_with_email_and_password(
    server: Server, actors: Actors, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", actors.emails["data_scientist"])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    client = MlflowClient(tracking_uri=server.url)
    experiment_id = client.create_experiment(name("basic"))
    assert client.get_experiment(experiment_id).experiment_id == experiment_id
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "wrong-password-123")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with pytest.raises(MlflowException) as refused:
        client.get_experiment(experiment_id)
    assert refused.value.error_code == "UNAUTHENTICATED"


def test_tenants_cannot_see_each_other(
    server: Server, actors: Actors, other_tenant: Actors, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", actors.keys["ml_engineer"])
    mine = MlflowClient(tracking_uri=server.url)
    experiment_id = mine.create_experiment(name("private"))
    run = mine.create_run(experiment_id)
    (tmp_path / "secret.txt").write_text("s3cret")
    mine.log_artifact(run.info.run_id, str(tmp_path / "secret.txt"))

    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", other_tenant.keys["tenant_admin"])
    theirs = MlflowClient(tracking_uri=server.url)
    for attempt in (
        lambda: theirs.get_experiment(experiment_id),
        lambda: theirs.get_run(run.info.run_id),
        lambda: theirs.log_metric(run.info.run_id, "x", 1.0),
        lambda: theirs.list_artifacts(run.info.run_id),
        lambda: theirs.download_artifacts(run.info.run_id, "secret.txt", str(tmp_path)),
    ):
        with pytest.raises(MlflowException) as refused:
            attempt()
        assert refused.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    visible = {e.experiment_id for e in theirs.search_experiments()}
    assert experiment_id not in visible
    assert theirs.search_runs([experiment_id]) == []
