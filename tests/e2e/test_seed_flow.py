"""The seed flow of SPEC §3 through the SDK against a real server: upload breast-cancer data,
train a random forest, register, deploy, predict — and typed errors from the same server."""

from __future__ import annotations

import pytest

import maestro_ml
from tests.e2e.conftest import TARGET, Seeded

pytestmark = pytest.mark.e2e


def test_uploaded_dataset_reports_the_table_it_received(seeded: Seeded) -> None:
    ds = seeded.dataset
    assert ds.row_count == len(seeded.frame) == 569
    assert [c.name for c in ds.columns] == list(seeded.frame.columns)
    assert ds.size_bytes == seeded.csv.stat().st_size
    assert len(ds.sha256) == 64


def test_training_finishes_the_run_and_registers_a_version_above_90_percent(
    seeded: Seeded, engineer: maestro_ml.Client
) -> None:
    run = seeded.run
    assert run.status == "FINISHED"
    assert run.id == seeded.experiment.run_id
    assert run.params.get("estimator") == "RandomForestClassifier"
    assert run.metrics["accuracy"] > 0.9

    versions = list(engineer.models.versions(seeded.model.id))
    assert [v.version for v in versions] == [1]
    version = engineer.models.get_version(seeded.model.id, 1)
    assert version.metrics["accuracy"] > 0.9
    assert version.run_id == run.id
    assert version.dataset_id == seeded.dataset.id
    assert engineer.models.get(seeded.model.id).latest_version == 1

    job = engineer.jobs.get(seeded.experiment.job_id)
    assert job.status == "succeeded"
    assert job.result["model_version_id"] == version.id


def test_deployment_serves_the_latest_version_under_a_url_safe_name(seeded: Seeded) -> None:
    dep = seeded.deployment
    assert dep.version == 1
    assert dep.environment == "production"
    assert dep.replicas == 2
    assert dep.name.replace("-", "").isalnum()
    assert dep.url.endswith(f"/api/v1/deployments/{dep.name}/predict")


def test_one_row_prediction_returns_a_label_and_class_probabilities(
    seeded: Seeded, engineer: maestro_ml.Client
) -> None:
    features = seeded.frame.drop(columns=[TARGET]).iloc[0].to_dict()

    result = engineer.predict(deployment_id=seeded.deployment.id, features=features)

    assert len(result.predictions) == 1
    assert result.model_version == 1
    assert sorted(float(c) for c in result.classes) == [0.0, 1.0]
    assert result.probabilities is not None and len(result.probabilities[0]) == 2
    assert float(result.predictions[0]) == float(seeded.frame[TARGET].iloc[0])


def test_hundred_row_predictions_by_deployment_name_match_the_labels(
    seeded: Seeded, engineer: maestro_ml.Client
) -> None:
    sample = seeded.frame.sample(n=100, random_state=1)
    rows = sample.drop(columns=[TARGET]).to_dict(orient="records")

    result = engineer.predict(seeded.deployment.name, instances=rows)

    assert len(result.predictions) == 100
    hits = sum(float(p) == float(y) for p, y in zip(result.predictions, sample[TARGET],
                                                     strict=True))
    assert hits / 100 > 0.9


def test_a_viewer_key_can_predict(seeded: Seeded, client_for) -> None:  # type: ignore[no-untyped-def]
    features = seeded.frame.drop(columns=[TARGET]).iloc[3].to_dict()

    result = client_for("viewer").predict(deployment_id=seeded.deployment.id, features=features)

    assert len(result.predictions) == 1


def test_a_wrongly_typed_feature_is_invalid_input_naming_it(
    seeded: Seeded, engineer: maestro_ml.Client
) -> None:
    features = seeded.frame.drop(columns=[TARGET]).iloc[0].to_dict()
    features["mean radius"] = "not a number"

    with pytest.raises(maestro_ml.InvalidInput) as caught:
        engineer.predict(deployment_id=seeded.deployment.id, features=features)

    assert caught.value.status == 422
    assert "mean radius" in caught.value.detail


def test_a_missing_feature_is_invalid_input_naming_it(
    seeded: Seeded, engineer: maestro_ml.Client
) -> None:
    features = seeded.frame.drop(columns=[TARGET, "worst area"]).iloc[0].to_dict()

    with pytest.raises(maestro_ml.InvalidInput) as caught:
        engineer.predict(deployment_id=seeded.deployment.id, features=features)

    assert "worst area" in caught.value.detail


def test_runs_of_the_experiment_are_searchable_by_metric(
    seeded: Seeded, engineer: maestro_ml.Client
) -> None:
    listed = list(engineer.runs.list(experiment_id=seeded.experiment.id,
                                     filter="metrics.accuracy > 0.9"))
    searched = list(engineer.runs.search(filter="metrics.accuracy > 0.9",
                                         order_by=["metrics.accuracy DESC"],
                                         experiment_ids=[seeded.experiment.id]))
    none = list(engineer.runs.search(filter="metrics.accuracy > 1.5",
                                     experiment_ids=[seeded.experiment.id]))

    assert [r.id for r in listed] == [seeded.run.id]
    assert [r.id for r in searched] == [seeded.run.id]
    assert none == []


def test_training_logs_are_readable_and_aliases_and_stages_move(
    seeded: Seeded, engineer: maestro_ml.Client
) -> None:
    logs = list(engineer.jobs.logs(seeded.experiment.job_id))
    assert logs, "a finished training job should have logged something"

    aliased = engineer.models.set_alias(seeded.model.id, "champion", 1)
    assert aliased.aliases == ["champion"]
    assert engineer.models.get(seeded.model.id).aliases == {"champion": 1}
    assert engineer.models.get_version_by_alias(seeded.model.id, "champion").id == aliased.id
    staged = engineer.models.transition_stage(seeded.model.id, 1, "Staging")
    assert staged.stage == "Staging"
    described = engineer.models.update_version(seeded.model.id, 1, description="baseline")
    assert described.description == "baseline" and described.stage == "Staging"
    engineer.models.delete_alias(seeded.model.id, "champion")
    assert engineer.models.get(seeded.model.id).aliases == {}


def test_a_failing_training_job_raises_training_error_with_its_message(
    seeded: Seeded, engineer: maestro_ml.Client
) -> None:
    exp = engineer.experiments.create(
        model_id=seeded.model.id, dataset_id=seeded.dataset.id, target=TARGET,
        parameters={"estimator": "RandomForestClassifier", "n_estimators": -5},
    )

    with pytest.raises(maestro_ml.TrainingError) as caught:
        exp.wait_for_completion(timeout=300)

    assert "n_estimators" in caught.value.detail
    assert caught.value.extra["job_id"] == exp.job_id
    assert engineer.jobs.get(exp.job_id).status == "failed"
    assert engineer.runs.get(exp.run_id).status == "FAILED"


def test_a_deployment_is_rescaled_then_deleted(seeded: Seeded, engineer: maestro_ml.Client
                                               ) -> None:
    dep = engineer.deployments.create(model_id=seeded.model.id, alias=None, version=1,
                                      name=f"scratch-{seeded.model.name}", environment="staging")

    rescaled = engineer.deployments.update(dep.name, replicas=3, description="load test")
    listed = [d.id for d in engineer.deployments.list(model_id=seeded.model.id,
                                                       environment="staging")]
    engineer.deployments.delete(dep.id)

    assert rescaled.replicas == 3 and rescaled.description == "load test"
    assert dep.id in listed
    with pytest.raises(maestro_ml.NotFound):
        engineer.deployments.get(dep.id)


def test_a_cancelled_training_job_ends_cancelled_and_the_wait_raises(
    seeded: Seeded, engineer: maestro_ml.Client
) -> None:
    exp = engineer.experiments.create(
        model_id=seeded.model.id, dataset_id=seeded.dataset.id, target=TARGET,
        parameters={"estimator": "RandomForestClassifier", "n_estimators": 3000},
    )

    engineer.jobs.cancel(exp.job_id)

    with pytest.raises(maestro_ml.TrainingError):
        exp.wait_for_completion(timeout=300)
    assert engineer.jobs.get(exp.job_id).status == "cancelled"
