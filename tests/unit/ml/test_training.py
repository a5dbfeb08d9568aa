"""Training end to end: dataset file → fitted model → saved directory → loaded model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from maestro_ml.domain.errors import TrainingError
from maestro_ml.ml.model_io import load_model
from maestro_ml.ml.targets import infer_task
from maestro_ml.ml.training import TrainingSpec, train_model

CLASSIFIERS = [
    ("RandomForestClassifier", {"n_estimators": 30}, "skops", "sklearn"),
    ("XGBClassifier", {"n_estimators": 30}, "xgboost-json", "xgboost"),
    ("LGBMClassifier", {"n_estimators": 30}, "lightgbm-text", "lightgbm"),
]


@pytest.mark.parametrize(("estimator", "hyperparameters", "fmt", "framework"), CLASSIFIERS)
def test_classifier_round_trips_with_identical_predictions(
    tmp_path, breast_cancer_csv, breast_cancer_frame, estimator, hyperparameters, fmt, framework
):
    spec = TrainingSpec(target="diagnosis", estimator=estimator, hyperparameters=hyperparameters)
    events = []

    result = train_model(spec, breast_cancer_csv, tmp_path, events.append)

    assert result.metrics["accuracy"] > 0.9
    assert set(result.metrics) == {"accuracy", "f1", "precision", "recall", "roc_auc", "log_loss"}
    assert (result.task, result.format, result.framework) == ("classification", fmt, framework)
    assert result.classes == [0, 1]
    assert result.n_train + result.n_validation == len(breast_cancer_frame)
    assert sorted(result.files) == sorted(p.name for p in tmp_path.iterdir())

    features = breast_cancer_frame.drop(columns="diagnosis")
    assert result.feature_names == list(features.columns)
    loaded = load_model(tmp_path)
    x = np.ascontiguousarray(features.head(100).to_numpy())
    expected_labels = [result.classes[i] for i in result.model.predict(x)]
    expected_probabilities = result.model.predict_proba(x)
    rows = features.head(100).to_dict(orient="records")

    one = loaded.predict(rows[:1])
    many = loaded.predict(rows)

    assert one.predictions == expected_labels[:1]
    assert many.predictions == expected_labels
    assert many.classes == [0, 1]
    np.testing.assert_array_equal(np.array(many.probabilities), expected_probabilities)
    assert loaded.predict_array(x).predictions == expected_labels


def test_training_reports_each_stage(tmp_path, breast_cancer_csv):
    events = []
    spec = TrainingSpec(target="diagnosis", estimator="DecisionTreeClassifier")

    train_model(spec, breast_cancer_csv, tmp_path, events.append)

    progress = [event for event in events if event["type"] == "progress"]
    messages = " ".join(event["message"] for event in progress).lower()
    for stage in ("loading", "splitting", "fitting", "evaluating", "saving"):
        assert stage in messages
    assert [event["progress"] for event in progress] == sorted(e["progress"] for e in progress)
    assert progress[-1]["progress"] == 1.0
    assert any(event["type"] == "log" and event["level"] == "info" for event in events)


def test_ridge_regression_reports_regression_metrics(tmp_path, regression_csv):
    spec = TrainingSpec(target="price", estimator="ridge")

    result = train_model(spec, regression_csv, tmp_path)

    assert result.task == "regression"
    assert result.classes is None
    assert set(result.metrics) == {"rmse", "mae", "r2"}
    assert result.metrics["r2"] > 0.9
    assert result.signature["outputs"] == [{"name": "price", "type": "double"}]
    loaded = load_model(tmp_path)
    frame = pd.read_csv(regression_csv).drop(columns="price")
    output = loaded.predict(frame.to_dict(orient="records"))
    assert output.probabilities is None
    # C order, as built from request rows: BLAS may round differently on column-major input.
    x = np.ascontiguousarray(frame.to_numpy())
    assert output.predictions == result.model.predict(x).tolist()
    one = loaded.predict([frame.iloc[0].to_dict()])
    assert one.predictions == result.model.predict(x[:1]).tolist()


def test_string_column_is_one_hot_encoded_end_to_end(tmp_path, churn_csv):
    spec = TrainingSpec(
        target="churned", estimator="LogisticRegression", hyperparameters={"max_iter": 500}
    )

    result = train_model(spec, churn_csv, tmp_path)

    assert result.classes == ["no", "yes"]
    assert result.signature["inputs"] == [
        {"name": "plan", "type": "string"},
        {"name": "usage", "type": "double"},
    ]
    assert result.metrics["accuracy"] > 0.9
    loaded = load_model(tmp_path)
    assert loaded.metadata["categorical"] is True
    output = loaded.predict(
        [
            {"plan": "free", "usage": 3.0},
            {"plan": "pro", "usage": None},
            {"plan": "enterprise", "usage": 12.0},  # never seen: encoded as all zeros
            {"plan": None, "usage": 8.0},
        ]
    )
    assert output.predictions[:2] == ["yes", "no"]
    assert len(output.predictions) == 4
    assert all(abs(sum(p) - 1.0) < 1e-9 for p in output.probabilities)


def test_xgboost_alias_picks_the_regressor_for_a_continuous_target(tmp_path, regression_csv):
    spec = TrainingSpec(target="price", estimator="xgboost", hyperparameters={"n_estimators": 5})

    result = train_model(spec, regression_csv, tmp_path)

    assert (result.estimator, result.task) == ("XGBRegressor", "regression")


def test_rare_class_still_reaches_the_training_set(tmp_path):
    frame = pd.DataFrame({"x": np.arange(40.0), "label": ["a"] * 20 + ["b"] * 19 + ["c"]})
    path = tmp_path / "rare.csv"
    frame.to_csv(path, index=False)
    spec = TrainingSpec(
        target="label", estimator="XGBClassifier", hyperparameters={"n_estimators": 3}
    )

    result = train_model(spec, path, tmp_path / "model")

    assert result.classes == ["a", "b", "c"]
    assert result.n_train + result.n_validation == 40


def test_rows_without_a_target_are_dropped(tmp_path, breast_cancer_frame):
    frame = breast_cancer_frame.copy()
    frame.loc[:9, "diagnosis"] = np.nan
    path = tmp_path / "gaps.csv"
    frame.to_csv(path, index=False)
    events = []
    spec = TrainingSpec(target="diagnosis", estimator="DecisionTreeClassifier")

    result = train_model(spec, path, tmp_path / "model", events.append)

    assert result.n_train + result.n_validation == len(frame) - 10
    assert result.classes == [0, 1]  # still integers, though the CSV column read as floats
    assert any("Dropped 10 rows" in event.get("message", "") for event in events)


def test_missing_target_names_the_target_and_the_columns(tmp_path, churn_csv):
    spec = TrainingSpec(target="cancelled", estimator="RandomForestClassifier")

    with pytest.raises(TrainingError) as caught:
        train_model(spec, churn_csv, tmp_path)

    assert "'cancelled'" in str(caught.value)
    assert "plan, usage, churned" in str(caught.value)


def test_unknown_estimator_lists_the_available_ones(tmp_path, churn_csv):
    spec = TrainingSpec(target="churned", estimator="DeepForest", task="classification")

    with pytest.raises(TrainingError, match="unknown estimator 'DeepForest'.*LGBMClassifier"):
        train_model(spec, churn_csv, tmp_path)


def test_unknown_hyperparameter_is_named(tmp_path, churn_csv):
    spec = TrainingSpec(
        target="churned", estimator="RandomForestClassifier", hyperparameters={"n_trees": 5}
    )

    with pytest.raises(TrainingError, match="n_trees.*valid ones:.*n_estimators"):
        train_model(spec, churn_csv, tmp_path)


def test_bad_hyperparameter_value_carries_the_library_message(tmp_path, churn_csv):
    spec = TrainingSpec(
        target="churned", estimator="RandomForestClassifier", hyperparameters={"n_estimators": -3}
    )

    with pytest.raises(TrainingError, match="n_estimators"):
        train_model(spec, churn_csv, tmp_path)


def test_xgboost_refuses_a_string_column_and_suggests_scikit_learn(tmp_path, churn_csv):
    spec = TrainingSpec(target="churned", estimator="XGBClassifier")

    with pytest.raises(TrainingError) as caught:
        train_model(spec, churn_csv, tmp_path)

    assert "plan" in str(caught.value)
    assert "RandomForestClassifier" in str(caught.value)
    assert not any(tmp_path.iterdir())


def test_regression_target_must_be_numeric(tmp_path, churn_csv):
    spec = TrainingSpec(target="churned", estimator="RandomForestRegressor")

    with pytest.raises(TrainingError, match="numeric"):
        train_model(spec, churn_csv, tmp_path)


def test_spec_from_dict_rejects_unknown_fields_and_bad_values():
    with pytest.raises(TrainingError, match="epochs"):
        TrainingSpec.from_dict({"target": "y", "estimator": "Ridge", "epochs": 3})
    with pytest.raises(TrainingError, match="validation_fraction"):
        TrainingSpec.from_dict({"target": "y", "estimator": "Ridge", "validation_fraction": 1.5})


@pytest.mark.parametrize(
    ("values", "task"),
    [
        (["a", "b", "a"], "classification"),
        ([True, False, True], "classification"),
        ([0, 1, 2, 1], "classification"),
        ([0.0, 1.0, 1.0], "classification"),
        ([0.5, 1.25, 3.0], "regression"),
        (list(range(100)), "regression"),
    ],
)
def test_task_is_inferred_from_the_target(values, task):
    assert infer_task(pd.Series(values)) == task
