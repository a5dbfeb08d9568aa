"""Loading a model version from the artifact store into memory.

A local artifact store is read in place. Any other store (s3://, gs:// ...) is first copied
into ``<cache_dir>/<version id>``: into a temporary directory that is renamed when complete,
so a crashed or concurrent download never leaves a half-written model to load later. Model
versions are immutable, so a complete copy stays valid for good.

Pickle-based formats (``pickle``, ``mlflow-pyfunc``: uploaded, never trained here) are not
loaded in this process at all: after ``check_pickle_allowed`` (the tenant policy) passes they
become an ``IsolatedModel`` whose child process unpickles them.

With ``compile_onnx`` on, a numeric scikit-learn model is offered to ONNX Runtime
(``serving.onnx_runtime``) and served by it only when it agrees with the native model on
the version's stored validation rows; each decision is logged and kept in ``compilations``.
"""

from __future__ import annotations

import json
import logging
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from maestro_ml.domain.errors import InvalidInput
from maestro_ml.ml.model_formats import PICKLE_FORMATS
from maestro_ml.ml.model_io import METADATA_FILE, LoadedModel, load_model
from maestro_ml.serving.isolated import IsolatedModel
from maestro_ml.serving.onnx_runtime import VALIDATION_SAMPLE_FILE, Compilation, compile_version

log = logging.getLogger(__name__)


class ModelFiles(Protocol):
    """What the loader needs from the artifact store."""

    def local_path(self, full_key: str) -> Path | None: ...
    def download_dir(self, full_prefix: str, target: Path) -> Path: ...


class ModelLoader:
    """Turns a version's artifact key into a ``LoadedModel``."""

    def __init__(
        self, files: ModelFiles, cache_dir: Path, worker_timeout_seconds: float = 60.0,
        *, compile_onnx: bool = False,
    ) -> None:
        self.compile_onnx = compile_onnx
        self.compilations: dict[str, Compilation] = {}
        self._files = files
        self._cache_dir = cache_dir
        self._worker_timeout = worker_timeout_seconds

    def load(
        self, artifact_key: str, version_id: str,
        check_pickle_allowed: Callable[[], None] | None = None,
    ) -> LoadedModel | IsolatedModel:
        """Load the model stored under the full store key ``artifact_key``.

        A pickle-based model needs ``check_pickle_allowed`` (it raises when the tenant's
        policy forbids them); without one such a model is refused.
        """
        directory = self.local_dir(artifact_key, version_id)
        metadata = _metadata(directory)
        if metadata.get("format") not in PICKLE_FORMATS:
            model = load_model(directory)
            return self._compiled(model, directory, version_id) if self.compile_onnx else model
        if check_pickle_allowed is None:
            raise InvalidInput("pickle-based models are not allowed here")
        check_pickle_allowed()
        return IsolatedModel(
            directory, metadata, start_timeout=self._worker_timeout,
            request_timeout=self._worker_timeout,
        )

    def _compiled(self, model: LoadedModel, directory: Path, version_id: str) -> LoadedModel:
        served, compilation = compile_version(model, _validation_rows(directory))
        self.compilations[version_id] = compilation
        log.info("model version %s served by %s: %s", version_id, compilation.runtime,
                 compilation.reason)
        return served

    def local_dir(self, artifact_key: str, version_id: str) -> Path:
        """A local directory holding the version's files (downloaded when needed)."""
        local = self._files.local_path(artifact_key)
        if local is not None:
            if not (local / METADATA_FILE).is_file():
                raise _missing(artifact_key)
            return local
        target = self._cache_dir / version_id
        if (target / METADATA_FILE).is_file():
            return target
        staging = self._cache_dir / f".{version_id}.{uuid.uuid4().hex}"
        try:
            self._files.download_dir(artifact_key, staging)
            if not (staging / METADATA_FILE).is_file():
                raise _missing(artifact_key)
            try:
                staging.rename(target)
            except OSError:
                # Another process finished the same download first; use its copy.
                if not (target / METADATA_FILE).is_file():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target


def _metadata(directory: Path) -> dict[str, Any]:
    try:
        metadata = json.loads((directory / METADATA_FILE).read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{METADATA_FILE} is not valid JSON: {exc}") from exc
    if not isinstance(metadata, dict):
        raise InvalidInput(f"{METADATA_FILE} must hold a JSON object")
    return metadata


def _validation_rows(directory: Path) -> list[list[float]] | None:
    path = directory / VALIDATION_SAMPLE_FILE
    if not path.is_file():
        return None
    try:
        rows = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError):
        return None
    return rows if isinstance(rows, list) else None


def _missing(artifact_key: str) -> InvalidInput:
    where = artifact_key.split("/", 2)[-1]
    return InvalidInput(
        f"the files of this model version are missing from the artifact store ('{where}'); "
        "register or train the version again"
    )
