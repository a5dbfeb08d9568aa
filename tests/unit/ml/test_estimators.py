"""The estimator registry: lookup by name, task checks, hyper-parameter validation."""

from __future__ import annotations

import pytest

from maestro_ml.domain.errors import TrainingError
from maestro_ml.ml.estimators import available_estimators, build_estimator, resolve_estimator


def test_lookup_is_case_insensitive():
    assert resolve_estimator("randomforestclassifier", "classification").name == (
        "RandomForestClassifier"
    )


@pytest.mark.parametrize(
    ("alias", "task", "name", "framework"),
    [
        ("xgboost", "classification", "XGBClassifier", "xgboost"),
        ("XGBoost", "regression", "XGBRegressor", "xgboost"),
        ("lightgbm", "classification", "LGBMClassifier", "lightgbm"),
        ("LightGBM", "regression", "LGBMRegressor", "lightgbm"),
    ],
)
def test_library_aliases_resolve_by_task(alias, task, name, framework):
    entry = resolve_estimator(alias, task)

    assert (entry.name, entry.task, entry.framework) == (name, task, framework)


def test_registry_covers_both_tasks_for_each_family():
    classifiers = available_estimators("classification")
    regressors = available_estimators("regression")

    assert "LogisticRegression" in classifiers
    assert {"LinearRegression", "Ridge", "Lasso"} <= set(regressors)
    for family in ("RandomForest", "ExtraTrees", "GradientBoosting", "DecisionTree",
                   "KNeighbors", "XGB", "LGBM"):  # fmt: skip
        assert f"{family}Classifier" in classifiers
        assert f"{family}Regressor" in regressors


def test_unknown_estimator_lists_names_for_the_task():
    with pytest.raises(TrainingError) as caught:
        build_estimator("SuperModel", "regression", {})

    message = str(caught.value)
    assert "SuperModel" in message
    assert "Ridge" in message
    assert "RandomForestClassifier" not in message


def test_estimator_of_the_other_task_is_refused():
    with pytest.raises(TrainingError, match="RandomForestRegressor is a regression estimator"):
        build_estimator("RandomForestRegressor", "classification", {})


def test_unknown_hyperparameter_is_named_with_the_valid_ones():
    with pytest.raises(
        TrainingError, match="unknown hyper-parameter.*: depth; valid ones:.*max_depth"
    ):
        build_estimator("DecisionTreeRegressor", "regression", {"depth": 3})


def test_defaults_pin_threads_and_seed_unless_given():
    forest = build_estimator("RandomForestClassifier", "classification", {"n_jobs": 2})
    lgbm = build_estimator("LGBMRegressor", "regression", {}, random_state=7)

    assert (forest.n_jobs, forest.random_state) == (2, 42)
    assert lgbm.get_params()["verbose"] == -1
    assert (lgbm.n_jobs, lgbm.random_state) == (1, 7)
    assert build_estimator("XGBClassifier", "classification", {}).verbosity == 0
