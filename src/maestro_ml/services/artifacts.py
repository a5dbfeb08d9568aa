"""Run artifacts: streamed upload into the artifact store, streamed download, listing.

Every path passes ``domain.paths.canonical_key`` and is stored under the tenant's key
``runs/<run_id>/artifacts/<path>``; the ``artifacts`` table records its size and sha256,
computed while the bytes stream through (nothing is buffered whole). The run is checked
before a byte is read, so an upload to another tenant's run, or to a deleted one, writes
nothing. Uploading a path again replaces it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import IO, Any

from maestro_ml.auth.principal import Principal
from maestro_ml.domain.paths import canonical_key

from .ports import ArtifactStore, UnitOfWorkFactory
from .runs import require_run


def run_artifact_key(run_id: str, path: str) -> str:
    """The tenant-relative store key of a run's artifact."""
    return f"runs/{run_id}/artifacts/{canonical_key(path)}"


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
