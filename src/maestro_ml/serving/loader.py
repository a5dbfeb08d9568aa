"""Loading a model version from the artifact store into memory.

A local artifact store is read in place. Any other store (s3://, gs:// ...) is first copied
into ``<cache_dir>/<version id>``: into a temporary directory that is renamed when complete,
so a crashed or concurrent download never leaves a half-written model to load later. Model
versions are immutable, so a complete copy stays valid for good.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Protocol

from maestro_ml.domain.errors import InvalidInput
from maestro_ml.ml.model_io import METADATA_FILE, LoadedModel, load_model


class ModelFiles(Protocol):
    """What the loader needs from the artifact store."""

    def local_path(self, full_key: str) -> Path | None: ...
    def download_dir(self, full_prefix: str, target: Path) -> Path: ...


class ModelLoader:
    """Turns a version's artifact key into a ``LoadedModel``."""

    def __init__(self, files: ModelFiles, cache_dir: Path) -> None:
        self._files = files
        self._cache_dir = cache_dir

    def load(self, artifact_key: str, version_id: str) -> LoadedModel:
        """Load the model stored under the full store key ``artifact_key``."""
        return load_model(self.local_dir(artifact_key, version_id))

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


def _missing(artifact_key: str) -> InvalidInput:
    where = artifact_key.split("/", 2)[-1]
    return InvalidInput(
        f"the files of this model version are missing from the artifact store ('{where}'); "
        "register or train the version again"
    )
