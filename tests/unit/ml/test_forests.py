"""The direct forest path gives exactly scikit-learn's numbers, and only where it applies."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from maestro_ml.ml.forests import forest_function


@pytest.mark.parametrize("cls", [RandomForestClassifier, ExtraTreesClassifier])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_classifier_probabilities_equal_predict_proba(cls, n_classes: int):
    x, y = make_classification(600, 8, n_informative=5, n_classes=n_classes, random_state=1)
    model = cls(n_estimators=25, max_depth=6, random_state=0).fit(x, y)
    function = forest_function(model)
    assert function is not None
    for rows in (x[:1], x[:37], x):
        assert np.array_equal(function(rows), model.predict_proba(rows))


@pytest.mark.parametrize("cls", [RandomForestRegressor, ExtraTreesRegressor])
def test_regressor_values_equal_predict(cls):
    x, y = make_regression(400, 6, random_state=2)
    model = cls(n_estimators=20, random_state=0).fit(x, y)
    function = forest_function(model)
    assert function is not None
    assert np.array_equal(function(x), model.predict(x))


def test_other_models_keep_their_own_path():
    x, y = make_classification(200, 4, random_state=3)
    assert forest_function(GradientBoostingClassifier(n_estimators=5).fit(x, y)) is None
    pipeline = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=5)).fit(x, y)
    assert forest_function(pipeline) is None
    multi = RandomForestRegressor(n_estimators=5).fit(x, np.column_stack([y, y]))
    assert forest_function(multi) is None


def test_the_trainers_imputer_pipeline_takes_the_direct_path_with_missing_values():
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline

    x, y = make_classification(500, 6, random_state=4)
    x[::7, 2] = np.nan
    pipeline = Pipeline([("impute", SimpleImputer(strategy="median")),
                         ("model", RandomForestClassifier(n_estimators=15, random_state=0))])
    pipeline.fit(x, y)
    function = forest_function(pipeline)
    assert function is not None
    assert np.array_equal(function(x), pipeline.predict_proba(x))


def test_values_the_forest_cannot_take_are_left_to_scikit_learn():
    x, y = make_classification(200, 4, random_state=5)
    function = forest_function(RandomForestClassifier(n_estimators=5).fit(x, y))
    rows = x[:3].copy()
    rows[1, 0] = np.nan
    assert function(rows) is None
    rows[1, 0] = np.inf
    assert function(rows) is None
