"""Registering a model trained elsewhere: ``POST /api/v1/models/{id}/versions``.

The upload (one model file, or a ``.zip``/``.tar.gz`` archive extracted by ``ml.archives``)
is spooled to a scratch directory, classified by ``ml.model_formats`` without unpickling,
and turned into a model directory like the ones training writes (model file +
``maestro-model.json``), stored under ``models/<model_id>/v<version>``.

Safe formats are proven by loading them with the safe loaders (skops with the trusted-type
allow-list, XGBoost, LightGBM) before anything is stored. Pickle-based formats are never
loaded here: with the tenant policy off they are refused (422, nothing stored); with it on
they are stored as they are, and only the isolated worker ever unpickles them. They need a
signature (from the request or the MLmodel file), since nothing safe can read their inputs.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import yaml

from maestro_ml.auth.principal import Principal
from maestro_ml.domain.errors import AlreadyExists, InvalidInput, InvalidPath, PayloadTooLarge
from maestro_ml.domain.paths import canonical_key
from maestro_ml.domain.signature import validator_for_json
from maestro_ml.ml.archives import ArchiveLimits, extract_archive, is_archive
from maestro_ml.ml.model_formats import (
    LIGHTGBM_TEXT,
    MAESTRO_METADATA,
    MLMODEL_FILE,
    SKOPS,
    XGBOOST_JSON,
    XGBOOST_UBJ,
    DetectedModel,
    detect_model,
    mlflow_signature,
    pickle_policy_error,
)
from maestro_ml.ml.model_io import MODEL_FILES, load_model

from .datasets import upload_filename
from .ports import ArtifactStore, UnitOfWorkFactory
from .registry_views import VersionView

CHUNK_BYTES = 1024 * 1024
MAX_DESCRIPTION_CHARS = 10_000
VERSION_ATTEMPTS = 3


class ModelUploadService:
    def __init__(
        self, uow: UnitOfWorkFactory, artifacts: ArtifactStore, max_upload_bytes: int,
        archive_limits: ArchiveLimits | None = None,
    ) -> None:
        self._uow = uow
        self._artifacts = artifacts
        self._max_bytes = max_upload_bytes
        self._limits = archive_limits or ArchiveLimits(max_bytes=max_upload_bytes * 4)

    def upload_version(
        self, principal: Principal, model_id: str, *, filename: str | None,
        content: IO[bytes] | None,
        signature: Mapping[str, Any] | None = None, description: str | None = None,
    ) -> VersionView:
        """Store an uploaded model as the next version of ``model_id``.

        >>> uploads.upload_version(p, model_id, filename="model.skops", content=f).version
        2
        """
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            task = uow.models.get(model_id).task
            allow_pickle = (uow.tenants.get(principal.tenant_id).settings or {}).get(
                "allow_pickle_models"
            ) is True
        if content is None:
            raise InvalidInput("file: required; send the model as a multipart file part",
                               field="file")
        if description is not None and len(description) > MAX_DESCRIPTION_CHARS:
            raise InvalidInput(f"description: at most {MAX_DESCRIPTION_CHARS} characters")
        if signature is not None:
            signature = check_signature(signature)
        name = upload_filename(filename)
        with tempfile.TemporaryDirectory(prefix="maestro-model-upload-") as scratch:
            work = Path(scratch)
            unpacked = self._unpack(content, name, work)
            detected = detect_upload(unpacked)
            if detected.needs_pickle and not allow_pickle:
                raise pickle_policy_error(principal.tenant_id)
            staged = work / "staged"
            metadata = stage_model(detected, staged, task, signature)
            return self._record(principal, model_id, staged, metadata, description)

    def _unpack(self, content: IO[bytes], name: str, work: Path) -> Path:
        spooled = work / "upload" / name
        spooled.parent.mkdir()
        written = 0
        with spooled.open("wb") as out:
            while chunk := content.read(CHUNK_BYTES):
                written += len(chunk)
                if written > self._max_bytes:
                    raise PayloadTooLarge(
                        f"file: the upload is larger than {self._max_bytes} bytes", field="file"
                    )
                out.write(chunk)
        if not is_archive(name):
            return spooled.parent
        unpacked = work / "unpacked"
        extract_archive(spooled, name, unpacked, self._limits)
        return unpacked

    def _record(
        self, principal: Principal, model_id: str, staged: Path, metadata: dict[str, Any],
        description: str | None,
    ) -> VersionView:
        return record_version(
            self._uow, self._artifacts, principal, model_id, staged,
            format=metadata["format"], framework=metadata["framework"],
            signature=metadata["signature"], tags={"source": "upload"},
            description=description or None,
        )


def record_version(
    uow_factory: UnitOfWorkFactory, artifacts: ArtifactStore, principal: Principal,
    model_id: str, staged: Path | None, **fields: Any,
) -> VersionView:
    """Insert the next version of ``model_id`` with ``fields`` and store ``staged`` as its
    files (when given), under ``models/<model_id>/v<number>``; all or nothing."""
    for attempt in range(VERSION_ATTEMPTS):
        prefix = None
        try:
            with uow_factory.for_tenant(principal.tenant_id) as uow:
                uow.models.get(model_id)
                number = uow.model_versions.next_version(model_id)
                key = f"models/{model_id}/v{number}"
                row = uow.model_versions.create(
                    id=uuid.uuid4().hex, model_id=model_id, version=number, artifact_key=key,
                    metrics={}, created_by=principal.user_id, **fields,
                )
                # Claims the number before any file is written, as training does.
                uow.flush()
                prefix = artifacts.tenant_key(principal.tenant_id, key)
                artifacts.delete_prefix(prefix)  # leftovers of a failed attempt
                if staged is not None:
                    artifacts.write_dir(prefix, staged)
                uow.commit()
                return VersionView.of(row, [])
        except AlreadyExists:
            if attempt == VERSION_ATTEMPTS - 1:
                raise
        except BaseException:
            if prefix is not None:
                artifacts.delete_prefix(prefix)
            raise
    raise AssertionError("unreachable")


def detect_upload(upload_dir: Path) -> DetectedModel:
    """What ``upload_dir`` holds; an MLflow model saved with skops (MLflow 3's default for
    scikit-learn) is a safe skops model, loaded without the pickle policy."""
    try:
        return detect_model(upload_dir)
    except InvalidInput:
        skops = mlflow_skops_model(upload_dir)
        if skops is None:
            raise
        return skops


def mlflow_skops_model(upload_dir: Path) -> DetectedModel | None:
    """The skops model file of an MLflow model directory, when its sklearn flavor has one."""
    entries = list(upload_dir.iterdir())
    root = entries[0] if len(entries) == 1 and entries[0].is_dir() else upload_dir
    try:
        document = yaml.safe_load((root / MLMODEL_FILE).read_text())
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return None
    flavors = document.get("flavors") if isinstance(document, dict) else None
    sklearn = flavors.get("sklearn") if isinstance(flavors, dict) else None
    if not isinstance(sklearn, dict) or sklearn.get("serialization_format") != "skops":
        return None
    relative = sklearn.get("pickled_model")
    try:
        model_file = canonical_key(relative) if isinstance(relative, str) else None
    except InvalidPath:
        return None
    if model_file is None or not (root / model_file).is_file():
        return None
    return DetectedModel(
        SKOPS, "sklearn", root, model_file, signature=mlflow_signature(document.get("signature"))
    )


def check_signature(signature: Mapping[str, Any]) -> dict[str, Any]:
    """A signature with named ``inputs``, accepted by the prediction-time validator."""
    if not isinstance(signature, Mapping) or not isinstance(signature.get("inputs"), list):
        raise InvalidInput(
            'signature: expected {"inputs": [{"name": ..., "type": ...}], "outputs": [...]}',
            field="signature",
        )
    document = dict(signature)
    try:
        validator = validator_for_json(json.dumps(document, sort_keys=True))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"signature: not valid JSON ({exc})", field="signature") from exc
    if not validator.columns:
        raise InvalidInput("signature: 'inputs' names no columns", field="signature")
    return document


def stage_model(
    detected: DetectedModel, target: Path, task: str, signature: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Write the Maestro model directory for ``detected`` into ``target``; its metadata."""
    target.mkdir(parents=True)
    if detected.needs_pickle:
        return _stage_pickle(detected, target, task, signature)
    return _stage_safe(detected, target, task, signature)


def _stage_pickle(
    detected: DetectedModel, target: Path, task: str, signature: Mapping[str, Any] | None
) -> dict[str, Any]:
    chosen = signature or detected.signature
    if chosen is None:
        raise InvalidInput(
            "signature: pickle-based models need a signature (their inputs cannot be read "
            'without running them): send {"inputs": [{"name": "age", "type": "double"}, ...]}',
            field="signature",
        )
    chosen = check_signature(chosen)
    # The files are copied byte for byte; nothing here opens the pickle.
    shutil.copytree(detected.root, target, dirs_exist_ok=True)
    (target / MAESTRO_METADATA).unlink(missing_ok=True)
    metadata = {
        "metadata_version": 1, "format": detected.format, "framework": detected.framework,
        "model_file": detected.model_file, "serialization": detected.serialization or "joblib",
        "task": task, "feature_names": _input_names(chosen), "classes": None,
        "categorical_features": [], "signature": chosen, "source": "upload",
    }
    _write_metadata(target, metadata)
    return metadata


def _stage_safe(
    detected: DetectedModel, target: Path, task: str, signature: Mapping[str, Any] | None
) -> dict[str, Any]:
    fmt = XGBOOST_JSON if detected.format == XGBOOST_UBJ else detected.format
    model_file = target / MODEL_FILES[fmt]
    source = detected.root / detected.model_file
    if detected.format == XGBOOST_UBJ:
        _convert_ubj(source, model_file)
    else:
        shutil.copyfile(source, model_file)
    base = dict(detected.metadata)
    base.update(format=fmt, framework=detected.framework, model_file=model_file.name, task=task)
    base.setdefault("feature_names", [])
    if task == "classification":
        base["classes"] = base.get("classes") or [0, 1]  # provisional, until the model says
    _write_metadata(target, base)
    loaded = load_model(target)  # the safe loaders: untrusted skops types are refused here
    chosen = signature or detected.signature or _inferred_signature(loaded.model, fmt)
    chosen = check_signature(chosen)
    names = _input_names(chosen)
    known = _model_feature_names(loaded.model, fmt)
    if known and set(known) != set(names):
        raise InvalidInput(
            f"signature: the inputs {names} do not match the model's features {known}",
            field="signature",
        )
    metadata = {
        **base, "feature_names": known or names, "signature": chosen, "source": "upload",
        "metadata_version": 1,
    }
    if task == "classification":
        metadata["classes"] = detected.metadata.get("classes") or _classes(loaded.model, fmt)
    metadata.setdefault("categorical_features", [])
    _write_metadata(target, metadata)
    load_model(target)  # once more with the final metadata, exactly as serving will
    return metadata


def _convert_ubj(source: Path, target: Path) -> None:
    import xgboost

    try:
        booster = xgboost.Booster(model_file=str(source))
    except Exception as exc:  # xgboost raises its own XGBoostError for corrupt files
        raise InvalidInput(f"file: not a readable XGBoost UBJ model: {exc}") from exc
    booster.save_model(str(target))


def _inferred_signature(model: Any, fmt: str) -> dict[str, Any]:
    names = _model_feature_names(model, fmt)
    if not names:
        raise InvalidInput(
            "signature: this model does not record its feature names; send a signature "
            '{"inputs": [{"name": ..., "type": "double"}, ...]} with the upload',
            field="signature",
        )
    return {"inputs": [{"name": name, "type": "double"} for name in names]}


def _model_feature_names(model: Any, fmt: str) -> list[str]:
    if fmt == SKOPS:
        names = getattr(model, "feature_names_in_", None)
    elif fmt == XGBOOST_JSON:
        names = model.get_booster().feature_names
    elif fmt == LIGHTGBM_TEXT:
        names = model.feature_name()
        # LightGBM names unnamed columns Column_0, Column_1 ...: those are not real names.
        if names and all(name == f"Column_{i}" for i, name in enumerate(names)):
            names = None
    else:
        names = None
    return [str(name) for name in names] if names is not None else []


def _classes(model: Any, fmt: str) -> list[Any]:
    from maestro_ml.ml.json_values import to_json_value

    if fmt == LIGHTGBM_TEXT:
        per_iteration = model.num_model_per_iteration()
        return list(range(2 if per_iteration == 1 else per_iteration))
    classes = getattr(model, "classes_", None)
    if classes is None:
        raise InvalidInput("file: this model is not a classifier (it has no classes_)")
    return to_json_value(list(classes))


def _input_names(signature: Mapping[str, Any]) -> list[str]:
    return [str(column["name"]) for column in signature["inputs"]]


def _write_metadata(directory: Path, metadata: Mapping[str, Any]) -> None:
    (directory / MAESTRO_METADATA).write_text(json.dumps(metadata, indent=2, default=str))
