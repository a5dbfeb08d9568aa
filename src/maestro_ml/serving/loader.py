"""Loading a model version from the artifact store into memory.

A local artifact store is read in place. Any other store (s3://, gs:// ...) is first copied
into ``<cache_dir>/<version id>``: into a temporary directory that is renamed when complete,
so a crashed or concurrent download never leaves a half-written model to load later. Model
versions are immutable, so a complete copy stays valid for good.

Pickle-based formats (``pickle``, ``mlflow-pyfunc``: uploaded, never trained here) are not
loaded in this process at all: after ``check_pickle_allowed`` (the tenant policy) passes they
become an ``IsolatedModel`` whose child process unpickles them.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from maestro_ml.domain.errors import InvalidInput
from maestro_ml.ml.model_formats import PICKLE_FORMATS
from maestro_ml.ml.model_io import METADATA_FILE, LoadedModel, load_model
from maestro_ml.serving.isolated import IsolatedModel


class ModelFiles(Protocol):
    """What the loader needs from the artifact store."""

    def local_path(self, full_key: str) -> Path | None: ...
    def download_dir(self, full_prefix: str, target: Path) -> Path: ...


class ModelLoader:
    """Turns a version's artifact key into a ``LoadedModel``."""

    def __init__(
        self, files: ModelFiles, cache_dir: Path, worker_timeout_seconds: float = 60.0
    ) -> None:
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
            return load_model(directory)
        if check_pickle_allowed is None:
            raise InvalidInput("pickle-based models are not allowed here")
        check_pickle_allowed()
        return IsolatedModel(
            directory, metadata, start_timeout=self._worker_timeout,
            request_timeout=self._worker_timeout,
        )

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


def _missing(artifact_key: str) -> InvalidInput:
    where = artifact_key.split("/", 2)[-1]
    return InvalidInput(
        f"the files of this model version are missing from the artifact store ('{where}'); "
        "register or train the version again"
    )
