"""Composite models against numbers computed by hand from the members' own estimators."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.naive_bayes import GaussianNB
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from maestro_ml.domain.errors import InvalidInput
from maestro_ml.ml.model_io import LoadedModel, PredictionOutput, load_model, save_model
from maestro_ml.services.ensembles import fit_meta_model
from maestro_ml.serving.ensembles import (
    build_composite,
    case_key,
    load_meta_model,
    member_version_ids,
    stacking_features,
)

FEATURES = ["f0", "f1", "f2", "f3"]


def _saved(estimator: Any, directory: Path, task: str, features: list[str]) -> LoadedModel:
    classes = [int(c) for c in estimator.classes_] if task == "classification" else None
    save_model(estimator, directory, {
        "task": task, "feature_names": features, "classes": classes,
        "categorical_features": [], "estimator": type(estimator).__name__,
    })
    return load_model(directory)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    x, y = make_classification(n_samples=300, n_features=4, n_informative=3, n_redundant=0,
                               random_state=0)
    rows = [dict(zip(FEATURES, map(float, row), strict=True)) for row in x]
    return x, y, rows


@pytest.fixture(scope="module")
def classifiers(tmp_path_factory: pytest.TempPathFactory, data: Any) -> dict[str, Any]:
    x, y, _ = data
    estimators = {
        "logistic": LogisticRegression(max_iter=500).fit(x, y),
        "tree": DecisionTreeClassifier(max_depth=2, random_state=0).fit(x, y),
        "bayes": GaussianNB().fit(x, y),
    }
    return {
        name: (estimator, _saved(estimator, tmp_path_factory.mktemp(name), "classification",
                                 FEATURES))
        for name, estimator in estimators.items()
    }


def _config(names: list[str], **extra: Any) -> dict[str, Any]:
    weights = extra.pop("weights", [1.0] * len(names))
    members = [
        {"name": name, "model_version_id": f"v-{name}", "weight": weight}
        for name, weight in zip(names, weights, strict=True)
    ]
    return {"members": members, **extra}


def _loaded(classifiers: dict[str, Any], names: list[str]) -> dict[str, Any]:
    return {name: classifiers[name][1] for name in names}


def test_hard_voting_is_the_majority_label(classifiers: Any, data: Any) -> None:
    x, _, rows = data
    names = ["logistic", "tree", "bayes"]
    model = build_composite("ensemble", _config(names, method="hard_voting"),
                            _loaded(classifiers, names))
    votes = np.stack([classifiers[name][0].predict(x) for name in names])
    expected = (votes.sum(axis=0) >= 2).astype(int)  # binary labels 0/1, three voters
    output = model.predict(rows)
    assert output.predictions == expected.tolist()
    assert output.probabilities is None
    assert model.classes == [0, 1]


def test_hard_voting_ties_go_to_the_earliest_member() -> None:
    first, second = _Fixed(["a", "b"], ["x", "y"]), _Fixed(["a", "b"], ["y", "y"])
    model = build_composite(
        "ensemble", _config(["first", "second"], method="hard_voting"),
        {"first": first, "second": second},
    )
    assert model.predict([{}, {}]).predictions == ["x", "y"]
    weighted = build_composite(
        "ensemble", _config(["first", "second"], method="hard_voting", weights=[1.0, 2.0]),
        {"first": first, "second": second},
    )
    assert weighted.predict([{}, {}]).predictions == ["y", "y"]


def test_soft_voting_averages_probabilities(classifiers: Any, data: Any) -> None:
    x, _, rows = data
    names = ["logistic", "tree", "bayes"]
    model = build_composite("ensemble", _config(names, method="soft_voting"),
                            _loaded(classifiers, names))
    mean = np.mean([classifiers[name][0].predict_proba(x) for name in names], axis=0)
    output = model.predict(rows)
    np.testing.assert_allclose(output.probabilities, mean)
    assert output.predictions == mean.argmax(axis=1).tolist()


def test_soft_voting_aligns_members_whose_classes_are_in_another_order() -> None:
    ab = _Fixed(["a", "b"], ["a"], [[0.8, 0.2]])
    ba = _Fixed(["b", "a"], ["b"], [[0.6, 0.4]])  # b: 0.6, a: 0.4
    model = build_composite("ensemble", _config(["ab", "ba"], method="soft_voting"),
                            {"ab": ab, "ba": ba})
    output = model.predict([{}])
    np.testing.assert_allclose(output.probabilities, [[0.6, 0.4]])  # a: (0.8+0.4)/2
    assert output.predictions == ["a"]


def test_soft_voting_refuses_members_with_other_classes() -> None:
    with pytest.raises(InvalidInput, match="same classes"):
        build_composite("ensemble", _config(["p", "q"], method="soft_voting"),
                        {"p": _Fixed(["a", "b"], []), "q": _Fixed(["a", "c"], [])})


def test_weighted_average_of_regressors(tmp_path: Path) -> None:
    x, y = make_regression(n_samples=200, n_features=4, noise=5.0, random_state=1)
    rows = [dict(zip(FEATURES, map(float, row), strict=True)) for row in x]
    linear = LinearRegression().fit(x, y)
    tree = DecisionTreeRegressor(max_depth=3, random_state=0).fit(x, y)
    members = {
        "linear": _saved(linear, tmp_path / "linear", "regression", FEATURES),
        "tree": _saved(tree, tmp_path / "tree", "regression", FEATURES),
    }
    model = build_composite(
        "ensemble", _config(["linear", "tree"], method="weighted_average", weights=[3.0, 1.0]),
        members,
    )
    expected = (3 * linear.predict(x) + tree.predict(x)) / 4
    np.testing.assert_allclose(model.predict(rows).predictions, expected)
    assert model.task == "regression"


def test_weighted_average_of_classifier_probabilities(classifiers: Any, data: Any) -> None:
    x, _, rows = data
    names = ["logistic", "bayes"]
    model = build_composite(
        "ensemble", _config(names, method="weighted_average", weights=[1.0, 3.0]),
        _loaded(classifiers, names),
    )
    expected = (classifiers["logistic"][0].predict_proba(x)
                + 3 * classifiers["bayes"][0].predict_proba(x)) / 4
    np.testing.assert_allclose(model.predict(rows).probabilities, expected)


def test_stacking_feeds_member_probabilities_to_the_meta_model(
    classifiers: Any, data: Any
) -> None:
    x, y, rows = data
    names = ["tree", "bayes"]
    loaded = _loaded(classifiers, names)
    meta, classes = fit_meta_model([loaded[name] for name in names], "classification", rows, y)
    assert classes == [0, 1]
    by_hand = np.hstack([classifiers[name][0].predict_proba(x) for name in names])
    expected_meta = LogisticRegression(max_iter=1000).fit(by_hand, y)
    np.testing.assert_allclose(meta.coef_, expected_meta.coef_, rtol=1e-6)
    model = build_composite("ensemble", _config(names, method="stacking"), loaded, meta)
    output = model.predict(rows)
    np.testing.assert_allclose(output.probabilities, expected_meta.predict_proba(by_hand))
    assert output.predictions == expected_meta.predict(by_hand).tolist()


def test_stacking_regressors_with_a_ridge_meta_model(tmp_path: Path) -> None:
    x, y = make_regression(n_samples=200, n_features=4, noise=5.0, random_state=2)
    rows = [dict(zip(FEATURES, map(float, row), strict=True)) for row in x]
    linear = LinearRegression().fit(x, y)
    tree = DecisionTreeRegressor(max_depth=3, random_state=0).fit(x, y)
    members = {
        "linear": _saved(linear, tmp_path / "l", "regression", FEATURES),
        "tree": _saved(tree, tmp_path / "t", "regression", FEATURES),
    }
    meta, classes = fit_meta_model(list(members.values()), "regression", rows, y)
    assert classes is None
    stacked = np.column_stack([linear.predict(x), tree.predict(x)])
    expected = Ridge(alpha=1.0).fit(stacked, y).predict(stacked)
    model = build_composite("ensemble", _config(["linear", "tree"], method="stacking"),
                            members, meta)
    np.testing.assert_allclose(model.predict(rows).predictions, expected, rtol=1e-6)


def test_meta_model_round_trips_through_skops(classifiers: Any, data: Any) -> None:
    import skops.io

    _, y, rows = data
    meta, _ = fit_meta_model([classifiers["tree"][1], classifiers["bayes"][1]],
                             "classification", rows, y)
    again = load_meta_model(skops.io.dumps(meta))
    np.testing.assert_allclose(again.coef_, meta.coef_)
    with pytest.raises(InvalidInput):
        load_meta_model(b"not a zip file")


def test_sequence_adds_each_step_prediction_as_a_feature(tmp_path: Path, data: Any) -> None:
    x, y, rows = data
    first = LinearRegression().fit(x, x[:, 0] * 2 + x[:, 1])
    extended = np.column_stack([x, first.predict(x)])
    second = LogisticRegression(max_iter=500).fit(extended, y)
    members = {
        "estimate": _saved(first, tmp_path / "a", "regression", FEATURES),
        "decide": _saved(second, tmp_path / "b", "classification", [*FEATURES, "estimate"]),
    }
    model = build_composite("chain", _config(["estimate", "decide"], mode="sequence"), members)
    output = model.predict(rows)
    assert output.predictions == second.predict(extended).tolist()
    np.testing.assert_allclose(output.probabilities, second.predict_proba(extended))
    assert model.feature_names == FEATURES
    assert "estimate" not in rows[0]  # the caller's rows are not changed


def test_switch_routes_rows_by_a_feature_and_keeps_their_order(
    classifiers: Any, data: Any
) -> None:
    x, _, rows = data
    segments = ["pro", "free", "other", 2.0]
    routed = [{**row, "plan": segments[i % 4]} for i, row in enumerate(rows)]
    config = _config(["logistic", "tree", "bayes"], mode="switch", feature="plan",
                     cases={"pro": "logistic", "free": "tree", "2": "bayes"}, default="tree")
    model = build_composite("chain", config, _loaded(classifiers, ["logistic", "tree", "bayes"]))
    choice = {"pro": "logistic", "free": "tree", "other": "tree", 2.0: "bayes"}
    expected = [
        int(classifiers[choice[segments[i % 4]]][0].predict(x[i : i + 1])[0])
        for i in range(len(rows))
    ]
    output = model.predict(routed)
    assert output.predictions == expected
    assert len(output.probabilities) == len(rows)
    assert "plan" in model.feature_names


def test_switch_without_a_matching_case_or_default_names_the_cases(classifiers: Any) -> None:
    config = _config(["logistic"], mode="switch", feature="plan", cases={"pro": "logistic"})
    model = build_composite("chain", config, _loaded(classifiers, ["logistic"]))
    with pytest.raises(InvalidInput, match="plan"):
        model.predict([{"f0": 1, "f1": 1, "f2": 1, "f3": 1, "plan": "free"}])


def test_empty_requests_give_empty_outputs(classifiers: Any) -> None:
    names = ["logistic", "bayes"]
    for method in ("hard_voting", "soft_voting", "weighted_average"):
        model = build_composite("ensemble", _config(names, method=method),
                                _loaded(classifiers, names))
        assert model.predict([]).predictions == []


def test_unknown_kinds_and_missing_members_are_refused(classifiers: Any) -> None:
    with pytest.raises(InvalidInput, match="kind"):
        build_composite("mixture", _config(["logistic"]), _loaded(classifiers, ["logistic"]))
    with pytest.raises(InvalidInput, match="method"):
        build_composite("ensemble", _config(["logistic"], method="median"),
                        _loaded(classifiers, ["logistic"]))
    with pytest.raises(InvalidInput, match="not loaded"):
        build_composite("ensemble", _config(["logistic", "ghost"], method="soft_voting"),
                        _loaded(classifiers, ["logistic"]))
    with pytest.raises(InvalidInput, match="meta-model"):
        build_composite("ensemble", _config(["logistic"], method="stacking"),
                        _loaded(classifiers, ["logistic"]))


def test_member_version_ids_and_case_keys() -> None:
    assert member_version_ids(_config(["a", "b"])) == {"a": "v-a", "b": "v-b"}
    assert [case_key(v) for v in (2.0, 2, "2", True, None, 2.5)] == [
        "2", "2", "2", "true", None, "2.5"
    ]


def test_stacking_features_lay_out_members_side_by_side() -> None:
    outputs = [
        PredictionOutput(["a"], [[0.7, 0.3]], ["a", "b"]),
        PredictionOutput(["b"], [[0.9, 0.1]], ["b", "a"]),
    ]
    np.testing.assert_allclose(
        stacking_features(outputs, "classification", ["a", "b"]), [[0.7, 0.3, 0.1, 0.9]]
    )


class _Fixed:
    """A classifier that answers fixed labels (and probabilities)."""

    task = "classification"
    approx_bytes = 1
    feature_names: list[str] = []

    def __init__(
        self, classes: list[Any], labels: list[Any], probabilities: list[list[float]] | None = None
    ) -> None:
        self.classes = classes
        self._labels = labels
        self._probabilities = probabilities

    def predict(self, rows: list[dict[str, Any]]) -> PredictionOutput:
        probabilities = self._probabilities or [
            [1.0 if c == label else 0.0 for c in self.classes] for label in self._labels
        ]
        return PredictionOutput(self._labels[: len(rows)], probabilities[: len(rows)],
                                self.classes)
