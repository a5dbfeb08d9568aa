"""Run artifacts: streamed upload into the artifact store, streamed download, listing.

Every path passes ``domain.paths.canonical_key`` and is stored under the tenant's key
``runs/<run_id>/artifacts/<path>``; the ``artifacts`` table records its size and sha256,
computed while the bytes stream through (nothing is buffered whole). The run is checked
before a byte is read, so an upload to another tenant's run, or to a deleted one, writes
nothing. Uploading a path again replaces it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import IO, Any

from maestro_ml.auth.principal import Principal
from maestro_ml.domain.errors import NotFound
from maestro_ml.domain.paths import canonical_key

from .ports import ArtifactStore, UnitOfWorkFactory
from .runs import require_run


def run_artifact_key(run_id: str, path: str) -> str:
    """The tenant-relative store key of a run's artifact."""
    return f"runs/{run_id}/artifacts/{canonical_key(path)}"


@dataclass(frozen=True)
class DirectoryEntry:
    """One child of a listed directory: a file (with its size) or a directory."""

    name: str
    is_dir: bool
    size_bytes: int | None = None


@dataclass(frozen=True)
class ArtifactDownload:
    path: str
    size_bytes: int
    sha256: str
    chunks: Iterator[bytes]


class RunArtifactService:
    def __init__(
        self, uow: UnitOfWorkFactory, store: ArtifactStore, max_upload_bytes: int
    ) -> None:
        self._uow = uow
        self._store = store
        self._max_bytes = max_upload_bytes

    async def upload_artifact(
        self, principal: Principal, run_id: str, path: str, chunks: AsyncIterator[bytes]
    ) -> Any:
        """Stream ``chunks`` to the run's artifact ``path``; returns the recorded row.

        Example: ``await run_artifacts.upload_artifact(principal, run.id, "plots/roc.png",
        request.stream())``
        """
        key = canonical_key(path)
        await asyncio.to_thread(self._check_run, principal, run_id, True)
        full_key = self._store.tenant_key(principal.tenant_id, run_artifact_key(run_id, key))
        stored = await self._store.write_async_stream(full_key, chunks, self._max_bytes)
        return await asyncio.to_thread(
            self._record, principal, run_id, key, stored.size_bytes, stored.sha256
        )

    def open_artifact(self, principal: Principal, run_id: str, path: str) -> ArtifactDownload:
        """The artifact's metadata and its bytes as a stream of chunks."""
        key = canonical_key(path)
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            require_run(uow, run_id, for_writing=False)
            row = uow.artifacts.get_path(run_id, key)
        handle = self._store.open_read(
            self._store.tenant_key(principal.tenant_id, run_artifact_key(run_id, key))
        )
        return ArtifactDownload(row.path, row.size_bytes, row.sha256, _read_chunks(handle))

    def list_artifacts(
        self,
        principal: Principal,
        run_id: str,
        *,
        prefix: str | None = None,
        limit: int,
        cursor: str | None = None,
    ) -> Any:
        """The run's artifacts by path, optionally those whose path starts with ``prefix``."""
        if prefix:
            canonical_key(prefix)  # refuse traversal even where it only filters
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            require_run(uow, run_id, for_writing=False)
            return uow.artifacts.list_for_run(run_id, prefix=prefix, limit=limit, cursor=cursor)

    def list_directory(
        self, principal: Principal, run_id: str, directory: str
    ) -> list[DirectoryEntry]:
        """The files and sub-directories directly inside ``directory`` of a run's artifacts."""
        directory = canonical_key(directory) if directory else ""
        prefix = f"{directory}/" if directory else None
        entries: dict[str, DirectoryEntry] = {}
        cursor = None
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            require_run(uow, run_id, for_writing=False)
            while True:
                page = uow.artifacts.list_for_run(run_id, prefix=prefix, limit=1000, cursor=cursor)
                for row in page.items:
                    name, sep, _ = row.path[len(prefix or ""):].partition("/")
                    entries[name] = DirectoryEntry(name, True) if sep else DirectoryEntry(
                        name, False, row.size_bytes
                    )
                cursor = page.next_cursor
                if cursor is None:
                    return sorted(entries.values(), key=lambda entry: entry.name)

    def delete_artifacts(self, principal: Principal, run_id: str, path: str) -> None:
        """Delete a run's artifact file, or every file under a directory path."""
        key = canonical_key(path) if path else ""
        with self._uow.for_tenant(principal.tenant_id) as uow:
            require_run(uow, run_id)
            removed = uow.artifacts.delete_under(run_id, key)
            uow.commit()
        if not removed:
            raise NotFound(f"artifact '{key}' does not exist", kind="artifact")
        prefix = f"runs/{run_id}/artifacts" + (f"/{key}" if key else "")
        self._store.delete_prefix(self._store.tenant_key(principal.tenant_id, prefix))

    # -- objects outside runs (MLflow's logged models and other proxy paths) --------------
    async def upload_object(
        self, principal: Principal, key: str, chunks: AsyncIterator[bytes]
    ) -> None:
        full_key = self._store.tenant_key(principal.tenant_id, key)
        await self._store.write_async_stream(full_key, chunks, self._max_bytes)

    def open_object(self, principal: Principal, key: str) -> Iterator[bytes]:
        return self._store.iter_chunks(self._store.tenant_key(principal.tenant_id, key))

    def delete_object(self, principal: Principal, key: str) -> None:
        full_key = self._store.tenant_key(principal.tenant_id, key)
        if not self._store.exists(full_key):
            raise NotFound(f"artifact '{key}' does not exist", kind="artifact")
        self._store.delete_prefix(full_key)

    def list_objects(self, principal: Principal, key: str) -> list[DirectoryEntry]:
        """Children of a directory key outside runs (a local store's directory listing)."""
        local = self._store.local_path(self._store.tenant_key(principal.tenant_id, key))
        if local is None or not local.is_dir():
            return []
        entries = []
        with os.scandir(local) as found:
            for entry in found:
                if ".part-" in entry.name:
                    continue  # an upload still in flight
                is_dir = entry.is_dir(follow_symlinks=False)
                size = None if is_dir else entry.stat(follow_symlinks=False).st_size
                entries.append(DirectoryEntry(entry.name, is_dir, size))
        return sorted(entries, key=lambda entry: entry.name)

    def _check_run(self, principal: Principal, run_id: str, for_writing: bool) -> None:
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            require_run(uow, run_id, for_writing=for_writing)

    def _record(
        self, principal: Principal, run_id: str, path: str, size_bytes: int, sha256: str
    ) -> Any:
        with self._uow.for_tenant(principal.tenant_id) as uow:
            require_run(uow, run_id)
            row = uow.artifacts.record(run_id, path, size_bytes, sha256)
            uow.commit()
            return row


def _read_chunks(handle: IO[bytes], size: int = 1024 * 1024) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(size):
            yield chunk
