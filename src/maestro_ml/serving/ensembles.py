"""Composite models: ensembles (voting, weighted average, stacking) and chains (sequence, switch).

A composite looks like ``ml.model_io.LoadedModel`` to the predict path: ``predict(rows) ->
PredictionOutput``, ``task``, ``classes``, ``feature_names`` and ``approx_bytes``. It holds
already-loaded member models (from the model cache) by member name; nothing here touches the
database or the artifact store. The configuration it is built from has been validated and
normalised by ``services.ensembles.validate_composite_config``::

    kind      config
    ensemble  {"method": "hard_voting" | "soft_voting" | "weighted_average" | "stacking",
               "members": [{"name": "a", "model_version_id": "...", "weight": 1.0}, ...],
               "meta_model_key": "..."}                       # stacking only
    chain     {"mode": "sequence", "members": [...]}          # members run in order
    chain     {"mode": "switch", "feature": "plan", "cases": {"pro": "a"}, "default": "b",
               "members": [...]}

Sequence: each step's prediction is added to the rows as a feature named after the step, for
the steps after it; the output is the last step's. Switch: each row goes to the member named
by its ``feature`` value (``default`` when no case matches), and the outputs are put back in
request order.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from maestro_ml.domain.errors import InvalidInput
from maestro_ml.ml.model_io import PredictionOutput

CLASSIFICATION = "classification"
REGRESSION = "regression"
ENSEMBLE = "ensemble"
CHAIN = "chain"
ENSEMBLE_METHODS = ("hard_voting", "soft_voting", "weighted_average", "stacking")
CHAIN_MODES = ("sequence", "switch")
COMPOSITE_KINDS = (ENSEMBLE, CHAIN)


class Predictor(Protocol):
    """What a member must offer: a loaded model or another composite."""

    task: str
    classes: list[Any] | None
    approx_bytes: int

    def predict(self, rows: list[dict[str, Any]]) -> PredictionOutput: ...


def member_version_ids(config: Mapping[str, Any]) -> dict[str, str]:
    """Member name -> model version id, in member order: what the caller loads before building."""
    return {member["name"]: member["model_version_id"] for member in config["members"]}


def build_composite(
    kind: str, config: Mapping[str, Any], members: Mapping[str, Predictor], meta: Any = None
) -> CompositeModel:
    """The composite for a validated ``config``; ``members`` are loaded models by member name.

    ``meta`` is the fitted stacking meta-model (a scikit-learn estimator, see
    ``load_meta_model``), needed only for ``method: stacking``.
    """
    names = [member["name"] for member in config["members"]]
    missing = [name for name in names if name not in members]
    if missing:
        raise InvalidInput(f"composite members not loaded: {', '.join(missing)}")
    ordered = [(name, members[name]) for name in names]
    weights = [float(member.get("weight", 1.0)) for member in config["members"]]
    if kind == ENSEMBLE:
        method = config.get("method")
        if method == "hard_voting":
            return HardVoting(ordered, weights)
        if method == "soft_voting":
            return SoftVoting(ordered, weights)
        if method == "weighted_average":
            return WeightedAverage(ordered, weights)
        if method == "stacking":
            if meta is None:
                raise InvalidInput("a stacking ensemble needs its trained meta-model")
            return Stacking(ordered, meta)
        raise InvalidInput(f"unknown ensemble method {method!r}; use one of {ENSEMBLE_METHODS}")
    if kind == CHAIN:
        mode = config.get("mode")
        if mode == "sequence":
            return SequenceChain(ordered)
        if mode == "switch":
            cases = {str(key): value for key, value in (config.get("cases") or {}).items()}
            return SwitchChain(ordered, config["feature"], cases, config.get("default"))
        raise InvalidInput(f"unknown chain mode {mode!r}; use one of {CHAIN_MODES}")
    raise InvalidInput(f"unknown composite kind {kind!r}; use one of {COMPOSITE_KINDS}")


class CompositeModel:
    """Members in order; subclasses combine their outputs."""

    def __init__(self, members: Sequence[tuple[str, Predictor]]) -> None:
        if not members:
            raise InvalidInput("a composite needs at least one member")
        self.members = list(members)
        self.task: str = members[-1][1].task
        self.classes: list[Any] | None = getattr(members[-1][1], "classes", None)
        self.approx_bytes = sum(int(getattr(model, "approx_bytes", 0)) for _, model in members)
        self.feature_names: list[str] = _union(
            getattr(model, "feature_names", []) or [] for _, model in members
        )

    def predict(self, rows: list[dict[str, Any]]) -> PredictionOutput:
        raise NotImplementedError

    def _outputs(self, rows: list[dict[str, Any]]) -> list[PredictionOutput]:
        return [model.predict(rows) for _, model in self.members]


class HardVoting(CompositeModel):
    """The label with the most (weighted) votes; a tie goes to the earliest member's label."""

    def __init__(self, members: Sequence[tuple[str, Predictor]], weights: list[float]) -> None:
        super().__init__(members)
        self.weights = weights
        self.task = CLASSIFICATION
        self.classes = _union((model.classes or []) for _, model in members) or None

    def predict(self, rows: list[dict[str, Any]]) -> PredictionOutput:
        outputs = self._outputs(rows)
        labels = [
            _vote([out.predictions[i] for out in outputs], self.weights)
            for i in range(len(rows))
        ]
        return PredictionOutput(labels, None, self.classes)


def _vote(labels: list[Any], weights: list[float]) -> Any:
    tally: dict[Any, float] = {}
    for label, weight in zip(labels, weights, strict=True):
        tally[label] = tally.get(label, 0.0) + weight
    best = max(tally.values())
    # dicts keep insertion order, which is member order: the first label reaching the best.
    return next(label for label, votes in tally.items() if math.isclose(votes, best))


class SoftVoting(CompositeModel):
    """The mean (weighted, when weights are given) of the members' class probabilities.

    The label is the most probable class of the mean.
    """

    def __init__(self, members: Sequence[tuple[str, Predictor]], weights: list[float]) -> None:
        super().__init__(members)
        self.weights = np.asarray(weights, dtype=np.float64)
        self.task = CLASSIFICATION
        self.classes = _shared_classes(members)

    def predict(self, rows: list[dict[str, Any]]) -> PredictionOutput:
        stacked = np.stack([self._aligned(out) for out in self._outputs(rows)])
        mean = np.tensordot(self.weights / self.weights.sum(), stacked, axes=1)
        return _labelled(mean, self.classes)

    def _aligned(self, output: PredictionOutput) -> np.ndarray:
        """The member's probabilities with columns in this ensemble's class order."""
        probabilities = np.asarray(output.probabilities, dtype=np.float64)
        if probabilities.size == 0:
            return probabilities.reshape(0, len(self.classes or []))
        order = [list(output.classes or []).index(label) for label in self.classes or []]
        return probabilities[:, order]


class WeightedAverage(SoftVoting):
    """Regression: the weighted mean prediction; classification: weighted soft voting."""

    def __init__(self, members: Sequence[tuple[str, Predictor]], weights: list[float]) -> None:
        tasks = {model.task for _, model in members}
        if len(tasks) != 1:
            raise InvalidInput("weighted_average members must all be classifiers or regressors")
        if tasks == {CLASSIFICATION}:
            super().__init__(members, weights)
            return
        CompositeModel.__init__(self, members)
        self.weights = np.asarray(weights, dtype=np.float64)
        self.task = REGRESSION
        self.classes = None

    def predict(self, rows: list[dict[str, Any]]) -> PredictionOutput:
        if self.task == CLASSIFICATION:
            return super().predict(rows)
        values = np.asarray([out.predictions for out in self._outputs(rows)], dtype=np.float64)
        mean = self.weights @ values.reshape(len(self.members), -1) / self.weights.sum()
        return PredictionOutput(mean.tolist())


class Stacking(CompositeModel):
    """The members' probabilities (classifiers) or predictions (regressors) fed to a meta-model.

    Classifier members contribute their probability columns in the order of ``classes`` (the
    classes shared by every member), member after member: the layout ``stacking_features``
    builds for training the meta-model, so training and serving agree.
    """

    def __init__(self, members: Sequence[tuple[str, Predictor]], meta: Any) -> None:
        super().__init__(members)
        tasks = {model.task for _, model in members}
        if len(tasks) != 1:
            raise InvalidInput("stacking members must all be classifiers or regressors")
        self.meta = meta
        self.task = tasks.pop()
        self.member_classes = _shared_classes(members) if self.task == CLASSIFICATION else None
        self.classes = [_plain(c) for c in meta.classes_] if self.task == CLASSIFICATION else None

    def predict(self, rows: list[dict[str, Any]]) -> PredictionOutput:
        features = stacking_features(self._outputs(rows), self.task, self.member_classes)
        if len(rows) == 0:
            return PredictionOutput([], [] if self.classes else None, self.classes)
        if self.task == REGRESSION:
            return PredictionOutput(np.asarray(self.meta.predict(features), np.float64).tolist())
        return _labelled(np.asarray(self.meta.predict_proba(features), np.float64), self.classes)


def stacking_features(
    outputs: Sequence[PredictionOutput], task: str, classes: list[Any] | None
) -> np.ndarray:
    """The meta-model's input matrix from the members' outputs (one row per request row)."""
    if task == REGRESSION:
        return np.asarray([out.predictions for out in outputs], dtype=np.float64).T.reshape(
            -1, len(outputs)
        )
    columns = []
    for out in outputs:
        probabilities = np.asarray(out.probabilities, dtype=np.float64)
        order = [list(out.classes or []).index(label) for label in classes or []]
        columns.append(probabilities.reshape(-1, len(out.classes or []))[:, order])
    return np.hstack(columns)


class SequenceChain(CompositeModel):
    """Each step sees the rows plus every earlier step's prediction under the step's name."""

    def __init__(self, members: Sequence[tuple[str, Predictor]]) -> None:
        super().__init__(members)
        produced = {name for name, _ in members[:-1]}
        self.feature_names = [name for name in self.feature_names if name not in produced]

    def predict(self, rows: list[dict[str, Any]]) -> PredictionOutput:
        current = [dict(row) for row in rows]
        output = PredictionOutput([])
        for index, (name, model) in enumerate(self.members):
            output = model.predict(current)
            if index < len(self.members) - 1:
                for row, value in zip(current, output.predictions, strict=True):
                    row[name] = value
        return output


class SwitchChain(CompositeModel):
    """Rows routed by the value of one feature; outputs re-merged in request order."""

    def __init__(
        self, members: Sequence[tuple[str, Predictor]], feature: str, cases: dict[str, str],
        default: str | None,
    ) -> None:
        super().__init__(members)
        self.by_name = dict(members)
        self.feature = feature
        self.cases = cases
        self.default = default
        self.feature_names = _union([self.feature_names, [feature]])
        tasks = {model.task for _, model in members}
        self.task = tasks.pop() if len(tasks) == 1 else self.task
        shared = _classes_if_shared(members)
        self.classes = shared

    def member_for(self, row: Mapping[str, Any]) -> str:
        key = case_key(row.get(self.feature))
        name = self.cases.get(key, self.default) if key is not None else self.default
        if name is None:
            raise InvalidInput(
                f"no case of this switch matches {self.feature}={row.get(self.feature)!r} "
                "and it has no default; send one of: " + ", ".join(sorted(self.cases))
            )
        return name

    def predict(self, rows: list[dict[str, Any]]) -> PredictionOutput:
        groups: dict[str, list[int]] = {}
        for index, row in enumerate(rows):
            groups.setdefault(self.member_for(row), []).append(index)
        predictions: list[Any] = [None] * len(rows)
        probabilities: list[list[float] | None] = [None] * len(rows)
        for name, indices in groups.items():
            output = self.by_name[name].predict([rows[i] for i in indices])
            for position, index in enumerate(indices):
                predictions[index] = output.predictions[position]
                if output.probabilities is not None and self.classes is not None:
                    probabilities[index] = _reorder(output, position, self.classes)
        merged = probabilities if self.classes is not None and rows else None
        if merged is not None and any(p is None for p in merged):
            merged = None
        return PredictionOutput(predictions, merged, self.classes)  # type: ignore[arg-type]


def case_key(value: Any) -> str | None:
    """The string a feature value matches in ``cases`` (JSON keys are strings): 2.0 -> "2"."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def load_meta_model(data: bytes) -> Any:
    """A stacking meta-model from skops bytes, refused unless every type is allow-listed."""
    import skops.io

    from maestro_ml.ml.skops_trust import refused_types

    try:
        untrusted = skops.io.get_untrusted_types(data=data)
        refused = refused_types(untrusted)
        if refused:
            raise InvalidInput(
                f"refusing the stacking meta-model: types outside the allow-list: {refused}"
            )
        return skops.io.loads(data, trusted=untrusted)
    except (zipfile.BadZipFile, ValueError, TypeError, KeyError) as exc:
        raise InvalidInput(f"the stacking meta-model is not a valid skops file: {exc}") from exc


def _labelled(probabilities: np.ndarray, classes: list[Any] | None) -> PredictionOutput:
    labels = list(classes or [])
    if probabilities.size == 0:
        return PredictionOutput([], [], classes)
    predicted = [labels[index] for index in probabilities.argmax(axis=1)]
    return PredictionOutput(predicted, probabilities.tolist(), classes)


def _shared_classes(members: Sequence[tuple[str, Predictor]]) -> list[Any]:
    shared = _classes_if_shared(members)
    if shared is None:
        raise InvalidInput(
            "members must be classifiers of the same classes: "
            + "; ".join(f"{name}: {getattr(model, 'classes', None)}" for name, model in members)
        )
    return shared


def _classes_if_shared(members: Sequence[tuple[str, Predictor]]) -> list[Any] | None:
    first = getattr(members[0][1], "classes", None)
    if not first:
        return None
    for _, model in members[1:]:
        other = getattr(model, "classes", None)
        if not other or sorted(map(repr, other)) != sorted(map(repr, first)):
            return None
    return list(first)


def _reorder(output: PredictionOutput, position: int, classes: list[Any]) -> list[float]:
    row = (output.probabilities or [])[position]
    own = list(output.classes or [])
    return [row[own.index(label)] for label in classes]


def _union(lists: Any) -> list[Any]:
    seen: dict[Any, None] = {}
    for items in lists:
        for item in items:
            seen.setdefault(item, None)
    return list(seen)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
