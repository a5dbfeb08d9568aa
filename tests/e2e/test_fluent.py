"""The fluent tracking API (``maestro_ml.start_run`` ...) against the real server."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import maestro_ml

pytestmark = pytest.mark.e2e


@pytest.fixture
def scientist(client_for: Callable[[str], maestro_ml.Client]) -> Iterator[maestro_ml.Client]:
    client = client_for("data_scientist")
    maestro_ml.set_default_client(client)
    yield client
    maestro_ml.set_default_client(None)


def test_params_metrics_tags_and_artifacts_logged_fluently_read_back(
    scientist: maestro_ml.Client, tmp_path: Path
) -> None:
    experiment = f"fluent-{uuid.uuid4().hex[:8]}"
    artifact = tmp_path / "notes.txt"
    artifact.write_bytes(b"maestro fluent artifact\n" * 1000)

    with maestro_ml.start_run(experiment=experiment, run_name="rf", tags={"team": "growth"}) as run:
        maestro_ml.log_param("estimator", "RandomForestClassifier")
        maestro_ml.log_params({"n_estimators": 100, "max_depth": 10})
        for step, loss in enumerate([0.9, 0.5, 0.25]):
            maestro_ml.log_metric("loss", loss, step=step)
        maestro_ml.log_metrics({"accuracy": 0.93, "f1": 0.91})
        maestro_ml.set_tag("stage", "baseline")
        maestro_ml.log_artifact(artifact, artifact_path="docs")

    stored = scientist.runs.get(run.id)
    assert stored.status == "FINISHED"
    assert stored.end_time is not None
    assert stored.name == "rf"
    assert stored.params == {"estimator": "RandomForestClassifier", "n_estimators": "100",
                             "max_depth": "10"}
    assert stored.metrics == {"loss": 0.25, "accuracy": 0.93, "f1": 0.91}
    assert stored.tags["team"] == "growth" and stored.tags["stage"] == "baseline"
    history = list(scientist.runs.metric_history(run.id, "loss"))
    assert [(p.step, p.value) for p in history] == [(0, 0.9), (1, 0.5), (2, 0.25)]
    listed = scientist.runs.list_artifacts(run.id)
    assert [a.path for a in listed] == ["docs/notes.txt"]
    assert listed[0].sha256 == hashlib.sha256(artifact.read_bytes()).hexdigest()
    copy = scientist.runs.download_artifact(run.id, "docs/notes.txt", tmp_path / "copy.txt")
    assert copy.read_bytes() == artifact.read_bytes()


def test_start_run_reuses_the_experiment_by_name_and_nests_child_runs(
    scientist: maestro_ml.Client,
) -> None:
    experiment = f"fluent-{uuid.uuid4().hex[:8]}"

    with maestro_ml.start_run(experiment=experiment) as parent:
        with maestro_ml.start_run(run_name="trial-1") as child:
            assert maestro_ml.active_run() is child
        assert maestro_ml.active_run() is parent
    with maestro_ml.start_run(experiment=experiment) as again:
        pass

    assert maestro_ml.active_run() is None
    assert again.experiment_id == parent.experiment_id == child.experiment_id
    assert scientist.runs.get(child.id).parent_run_id == parent.id
    matching = list(scientist.experiments.list(name=experiment))
    assert [e.id for e in matching] == [parent.experiment_id]


def test_a_run_whose_block_raises_ends_failed(scientist: maestro_ml.Client) -> None:
    experiment = f"fluent-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ZeroDivisionError), maestro_ml.start_run(experiment=experiment) as run:
        maestro_ml.log_metric("before", 1.0)
        _ = 1 / 0

    assert scientist.runs.get(run.id).status == "FAILED"
    assert maestro_ml.active_run() is None


def test_end_run_without_a_block_sets_the_given_status(scientist: maestro_ml.Client) -> None:
    run = maestro_ml.start_run(experiment=f"fluent-{uuid.uuid4().hex[:8]}")
    maestro_ml.log_param("kind", "manual")

    ended = maestro_ml.end_run("KILLED")

    assert ended is not None and ended.status == "KILLED"
    assert scientist.runs.get(run.id).status == "KILLED"


def test_logging_without_an_active_run_is_invalid_input() -> None:
    with pytest.raises(maestro_ml.InvalidInput):
        maestro_ml.log_metric("loss", 1.0)
