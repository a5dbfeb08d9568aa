"""Ensembles and chains as deployment kinds: validating their configuration, loading them, and
training a stacking meta-model.

A user's configuration names its members by model (id or name) and version number or alias;
``validate_composite_config`` resolves them in the caller's tenant (another tenant's model is
simply not found) and returns the normalised configuration a deployment revision stores::

    {"method": "soft_voting",                      # ensemble; chains have "mode" instead
     "members": [{"name": "forest", "model_id": "...", "model_version_id": "...",
                  "version": 3, "task": "classification", "artifact_key": "...",
                  "weight": 1.0}, ...],
     "meta_model_key": "ensembles/meta/<id>.skops"}   # stacking only

``load_composite`` turns a stored configuration into a ``serving.ensembles`` composite from
members the caller loads (through its model cache). Classes of soft-voting and stacking
members are checked when the composite is built, since they live in the model files.
"""

from __future__ import annotations

import math
import re
import tempfile
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from maestro_ml.auth.principal import Principal
from maestro_ml.domain.errors import InvalidInput, NotFound
from maestro_ml.ml.datasets import read_table
from maestro_ml.serving.ensembles import (
    CHAIN,
    CHAIN_MODES,
    CLASSIFICATION,
    ENSEMBLE,
    ENSEMBLE_METHODS,
    CompositeModel,
    Predictor,
    build_composite,
    load_meta_model,
    stacking_features,
)

from .ports import ArtifactStore, UnitOfWorkFactory
from .registry import resolve_version

MAX_MEMBERS = 16
META_MODEL_PREFIX = "ensembles/meta/"
MAX_META_TRAINING_ROWS = 200_000
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,62}$")
_META_KEY = re.compile(r"^ensembles/meta/[0-9a-f]{32}\.skops$")
_VOTING = ("hard_voting", "soft_voting")

LoadVersion = Callable[[str, str], Predictor]
"""(model version id, full artifact key) -> the loaded model, from the caller's cache."""


def validate_composite_config(
    uow: Any, kind: str, config: Any, artifacts: ArtifactStore | None = None, *,
    need_meta: bool = True,
) -> dict[str, Any]:
    """The normalised configuration, or InvalidInput naming the field at fault.

    ``uow`` is an open unit of work of the deployment's tenant. With ``artifacts`` a stacking
    configuration's meta-model must exist in the store; ``need_meta=False`` checks a stacking
    configuration whose meta-model is still to be trained.
    """
    if kind not in (ENSEMBLE, CHAIN):
        raise InvalidInput(f"kind must be '{ENSEMBLE}' or '{CHAIN}'; got {kind!r}", field="kind")
    if not isinstance(config, Mapping):
        raise InvalidInput(f"an {kind} needs a 'config' object", field="config")
    members = _members(uow, config.get("members"))
    if kind == ENSEMBLE:
        return _ensemble(config, members, uow.tenant_id, artifacts if need_meta else None,
                         need_meta)
    return _chain(config, members)


def _members(uow: Any, raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise InvalidInput("config.members must be a non-empty list", field="config.members")
    if len(raw) > MAX_MEMBERS:
        raise InvalidInput(f"at most {MAX_MEMBERS} members", field="config.members")
    members = [_member(uow, item, index) for index, item in enumerate(raw)]
    names = [member["name"] for member in members]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InvalidInput(
            f"member names must be unique (set 'name'); repeated: {', '.join(duplicates)}",
            field="config.members",
        )
    return members


def _member(uow: Any, item: Any, index: int) -> dict[str, Any]:
    where = f"config.members[{index}]"
    if not isinstance(item, Mapping):
        raise InvalidInput(f"{where} must be an object with 'model'", field=where)
    ident, version, alias = item.get("model"), item.get("version"), item.get("alias")
    if not isinstance(ident, str) or not ident:
        raise InvalidInput(f"{where}.model must name a model (id or name)", field=f"{where}.model")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise InvalidInput(f"{where}.version must be an integer", field=f"{where}.version")
    if alias is not None and not isinstance(alias, str):
        raise InvalidInput(f"{where}.alias must be a string", field=f"{where}.alias")
    model = uow.models.find(ident) or uow.models.find_by_name(ident)
    if model is None:
        raise NotFound.of("model", ident)
    row = resolve_version(uow, model, version, alias)
    name = item.get("name", model.name)
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInput(
            f"{where}.name must start with a letter and hold letters, digits, '_', '.' or '-' "
            "(at most 63)", field=f"{where}.name",
        )
    weight = item.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not (
        math.isfinite(weight) and weight > 0
    ):
        raise InvalidInput(f"{where}.weight must be a positive number", field=f"{where}.weight")
    return {
        "name": name, "model_id": model.id, "model_version_id": row.id, "version": row.version,
        "task": model.task, "artifact_key": row.artifact_key, "weight": float(weight),
    }


def _ensemble(
    config: Mapping[str, Any], members: list[dict[str, Any]], tenant_id: str | None,
    artifacts: ArtifactStore | None, need_meta: bool = True,
) -> dict[str, Any]:
    method = config.get("method")
    if method not in ENSEMBLE_METHODS:
        raise InvalidInput(
            f"config.method must be one of {', '.join(ENSEMBLE_METHODS)}", field="config.method"
        )
    if len(members) < 2:
        raise InvalidInput("an ensemble needs at least two members", field="config.members")
    tasks = {member["task"] for member in members}
    if method in _VOTING and tasks != {CLASSIFICATION}:
        raise InvalidInput(f"{method} needs classifier members only", field="config.members")
    if len(tasks) > 1:
        raise InvalidInput(
            f"{method} members must all be classifiers or all regressors", field="config.members"
        )
    normalised: dict[str, Any] = {"method": method, "members": members}
    if method == "stacking" and need_meta:
        key = config.get("meta_model_key")
        if not isinstance(key, str) or not _META_KEY.match(key):
            raise InvalidInput(
                "stacking needs config.meta_model_key: the key returned by training a "
                "meta-model (POST /api/v1/ensembles/meta-models)", field="config.meta_model_key",
            )
        stored = artifacts is None or tenant_id is None or artifacts.exists(
            artifacts.tenant_key(tenant_id, key)
        )
        if not stored:
            raise InvalidInput(
                f"no meta-model is stored under {key}; train one first",
                field="config.meta_model_key",
            )
        normalised["meta_model_key"] = key
    return normalised


def _chain(config: Mapping[str, Any], members: list[dict[str, Any]]) -> dict[str, Any]:
    mode = config.get("mode")
    if mode not in CHAIN_MODES:
        raise InvalidInput(
            f"config.mode must be one of {', '.join(CHAIN_MODES)}", field="config.mode"
        )
    if mode == "sequence":
        return {"mode": mode, "members": members}
    names = {member["name"] for member in members}
    feature = config.get("feature")
    if not isinstance(feature, str) or not feature:
        raise InvalidInput("a switch needs config.feature: the feature to route on",
                           field="config.feature")
    cases = config.get("cases") or {}
    if not isinstance(cases, Mapping) or any(
        not isinstance(value, str) or value not in names for value in cases.values()
    ):
        raise InvalidInput(
            "config.cases must map feature values to member names: "
            + ", ".join(sorted(names)), field="config.cases",
        )
    default = config.get("default")
    if default is not None and default not in names:
        raise InvalidInput(f"config.default must be a member name: {', '.join(sorted(names))}",
                           field="config.default")
    if not cases and default is None:
        raise InvalidInput("a switch needs config.cases or config.default", field="config.cases")
    return {
        "mode": mode, "members": members, "feature": feature,
        "cases": {str(key): value for key, value in cases.items()}, "default": default,
    }


def load_composite(
    tenant_id: str, kind: str, config: Mapping[str, Any], load_version: LoadVersion,
    artifacts: ArtifactStore,
) -> CompositeModel:
    """The composite of a stored configuration, its members loaded through ``load_version``."""
    members = {
        member["name"]: load_version(
            member["model_version_id"], artifacts.tenant_key(tenant_id, member["artifact_key"])
        )
        for member in config["members"]
    }
    meta = None
    if config.get("meta_model_key"):
        meta = read_meta_model(artifacts, tenant_id, config["meta_model_key"])
    return build_composite(kind, config, members, meta)


def read_meta_model(artifacts: ArtifactStore, tenant_id: str, key: str) -> Any:
    try:
        with artifacts.open_read(artifacts.tenant_key(tenant_id, key)) as handle:
            data = handle.read()
    except FileNotFoundError as exc:
        raise InvalidInput(f"the stacking meta-model {key} is missing; train it again") from exc
    return load_meta_model(data)


class EnsembleService:
    """Training stacking meta-models from a dataset and the members' outputs."""

    def __init__(
        self, uow: UnitOfWorkFactory, artifacts: ArtifactStore, datasets: Any,
        load_version: Callable[[str, str, str], Predictor],
    ) -> None:
        self._uow = uow
        self._artifacts = artifacts
        self._datasets = datasets
        self._load_version = load_version

    def train_stacking_meta_model(
        self, principal: Principal, config: Any, dataset_id: str, target: str
    ) -> dict[str, Any]:
        """Fit the meta-model of a stacking ``config`` on a dataset; store it; return its key.

        Classification fits a LogisticRegression on the members' probabilities; regression a
        Ridge on their predictions. Use data the members were not trained on (a holdout),
        or the meta-model learns to trust whichever member over-fitted most.
        """
        tenant_id = principal.tenant_id
        dataset = self._datasets.get_dataset(principal, dataset_id)  # NotFound comes first
        stacking = {**(config if isinstance(config, Mapping) else {}), "method": "stacking"}
        with self._uow.for_tenant(tenant_id, write=False) as uow:
            normalised = validate_composite_config(uow, ENSEMBLE, stacking, need_meta=False)
        rows, y = self._training_rows(principal, dataset, target)
        models = [
            self._load_version(
                member["model_version_id"],
                self._artifacts.tenant_key(tenant_id, member["artifact_key"]), tenant_id,
            )
            for member in normalised["members"]
        ]
        task = normalised["members"][0]["task"]
        meta, classes = fit_meta_model(models, task, rows, y)
        key = f"{META_MODEL_PREFIX}{uuid.uuid4().hex}.skops"
        self._store(tenant_id, key, meta)
        return {"meta_model_key": key, "task": task, "rows": len(rows), "classes": classes}

    def _training_rows(
        self, principal: Principal, dataset: Any, target: str
    ) -> tuple[list[dict[str, Any]], np.ndarray]:
        with tempfile.TemporaryDirectory(prefix="maestro-meta-") as directory:
            path = self._datasets.local_file(principal.tenant_id, dataset, Path(directory))
            frame = read_table(path, dataset.format)
        if not isinstance(target, str) or target not in frame.columns:
            raise InvalidInput(
                f"the dataset has no column {target!r}; columns: "
                + ", ".join(map(str, frame.columns)),
                field="target",
            )
        frame = frame[frame[target].notna()].head(MAX_META_TRAINING_ROWS)
        if len(frame) < 2:
            raise InvalidInput("the dataset needs at least two rows with a target", field="target")
        y = frame[target].to_numpy()
        features = frame.drop(columns=[target]).astype(object)
        rows = features.where(features.notna(), None).to_dict("records")
        return rows, y

    def _store(self, tenant_id: str, key: str, meta: Any) -> None:
        import skops.io

        data = skops.io.dumps(meta)
        self._artifacts.write_stream(self._artifacts.tenant_key(tenant_id, key), iter([data]))


def fit_meta_model(
    models: list[Predictor], task: str, rows: list[dict[str, Any]], y: np.ndarray
) -> tuple[Any, list[Any] | None]:
    """The fitted meta-model and, for classifiers, its classes (as JSON values)."""
    from sklearn.linear_model import LogisticRegression, Ridge

    try:
        outputs = [model.predict(rows) for model in models]
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"a member could not predict the dataset's rows: {exc}") from exc
    if task == CLASSIFICATION:
        composite = build_composite(
            ENSEMBLE, {"method": "soft_voting", "members": [
                {"name": f"m{index}"} for index in range(len(models))
            ]}, {f"m{index}": model for index, model in enumerate(models)},
        )
        classes = composite.classes
        features = stacking_features(outputs, task, classes)
        meta = LogisticRegression(max_iter=1000).fit(features, y)
        return meta, [value.item() if hasattr(value, "item") else value for value in meta.classes_]
    features = stacking_features(outputs, task, None)
    return Ridge(alpha=1.0).fit(features, np.asarray(y, dtype=np.float64)), None
