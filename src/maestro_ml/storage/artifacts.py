"""The artifact store: one interface over fsspec URLs (local directory by default, s3:// ...).

Every key is canonicalised (``domain.paths.canonical_key``) before it touches the store and
lives under its tenant's prefix ``tenants/<tenant_id>/``; for local storage the resolved path
is checked once more to stay under the root. Writes are streamed, hashed (sha256) and sized
as they go, to a temporary name first and renamed, so a failed upload leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

import fsspec

from maestro_ml.domain.errors import InvalidPath, NotFound, PayloadTooLarge, Unavailable
from maestro_ml.domain.paths import canonical_key, is_within
from maestro_ml.observability.tracing import span

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StoredObject:
    key: str
    size_bytes: int
    sha256: str


class _PendingWrite:
    def __init__(self, key: str, out: IO[bytes], max_bytes: int | None) -> None:
        self.key, self._out, self._max = key, out, max_bytes
        self._digest, self._size = hashlib.sha256(), 0

    def write(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._max is not None and self._size > self._max:
            raise PayloadTooLarge(f"upload exceeds the limit of {self._max} bytes")
        self._digest.update(chunk)
        self._out.write(chunk)

    @property
    def stored(self) -> StoredObject:
        return StoredObject(self.key, self._size, self._digest.hexdigest())


class ArtifactStore:
    """Tenant-prefixed, canonical-key storage over fsspec."""

    def __init__(self, root_url: str) -> None:
        self.root_url = root_url.rstrip("/")
        self.fs, self.root = fsspec.core.url_to_fs(self.root_url)
        self.is_local = self.fs.protocol in ("file", "local") or "file" in self.fs.protocol
        if self.is_local:
            Path(self.root).mkdir(parents=True, exist_ok=True)
        self._real_root = os.path.realpath(self.root) if self.is_local else self.root

    # -- keys -----------------------------------------------------------------------------
    def tenant_key(self, tenant_id: str, key: str) -> str:
        return f"tenants/{tenant_id}/{canonical_key(key)}"

    def _path(self, full_key: str) -> str:
        path = f"{self.root}/{full_key}"
        if self.is_local:
            # A tenant's key must resolve (symlinks followed) under that tenant's own root.
            parts = full_key.split("/", 2)
            boundary = self._real_root
            if len(parts) >= 2 and parts[0] == "tenants":
                boundary = os.path.join(self._real_root, "tenants", parts[1])
            if not is_within(boundary, os.path.realpath(path)):
                raise InvalidPath(f"artifact key '{full_key}' resolves outside its tenant's root")
        return path

    # -- writes ---------------------------------------------------------------------------
    def write_stream(
        self, full_key: str, chunks: Iterator[bytes], max_bytes: int | None = None
    ) -> StoredObject:
        with self._pending(full_key, max_bytes) as pending:
            for chunk in chunks:
                pending.write(chunk)
        return pending.stored

    async def write_async_stream(
        self, full_key: str, chunks: AsyncIterator[bytes], max_bytes: int | None = None
    ) -> StoredObject:
        with self._pending(full_key, max_bytes) as pending:
            async for chunk in chunks:
                pending.write(chunk)
        return pending.stored

    @contextmanager
    def _pending(self, full_key: str, max_bytes: int | None) -> Iterator[_PendingWrite]:
        """A write to a temporary name, hashed and sized as it goes, renamed into place only
        when the whole stream arrived; any failure removes the partial file."""
        path = self._path(full_key)
        temp = f"{path}.part-{uuid.uuid4().hex}"
        try:
            with span("artifacts.write", {"maestro.artifact.key": full_key}):
                self._makedirs(path)
                with self.fs.open(temp, "wb") as out:
                    pending = _PendingWrite(full_key, out, max_bytes)
                    yield pending
                self.fs.mv(temp, path)
        except BaseException:
            self._remove_quietly(temp)
            raise

    def write_file(self, full_key: str, source: Path) -> StoredObject:
        with source.open("rb") as handle:
            return self.write_stream(full_key, iter(lambda: handle.read(CHUNK), b""))

    def write_dir(self, full_prefix: str, source: Path) -> list[StoredObject]:
        stored = []
        for file in sorted(p for p in source.rglob("*") if p.is_file()):
            rel = file.relative_to(source).as_posix()
            stored.append(self.write_file(f"{full_prefix}/{canonical_key(rel)}", file))
        return stored

    # -- reads ----------------------------------------------------------------------------
    def open_read(self, full_key: str) -> IO[bytes]:
        path = self._path(full_key)
        try:
            with span("artifacts.open", {"maestro.artifact.key": full_key}):
                return self.fs.open(path, "rb")
        except FileNotFoundError as exc:
            raise NotFound(f"artifact '{full_key.split('/', 2)[-1]}' does not exist") from exc
        except OSError as exc:
            raise Unavailable(f"artifact store unavailable: {exc}") from exc

    def iter_chunks(self, full_key: str) -> Iterator[bytes]:
        handle: BinaryIO = self.open_read(full_key)  # type: ignore[assignment]
        with handle:
            while chunk := handle.read(CHUNK):
                yield chunk

    def download_dir(self, full_prefix: str, target: Path) -> Path:
        """Copy every object under a prefix into a local directory (for model loading)."""
        target.mkdir(parents=True, exist_ok=True)
        base = self._path(full_prefix)
        with span("artifacts.download_dir", {"maestro.artifact.prefix": full_prefix}):
            for path in self.fs.find(base):
                rel = path[len(base.rstrip("/")) + 1 :]
                dest = target / canonical_key(rel)
                dest.parent.mkdir(parents=True, exist_ok=True)
                self.fs.get_file(path, str(dest))
        return target

    def local_path(self, full_key: str) -> Path | None:
        """The file's path when the store is local (no copy needed), else None."""
        return Path(self._path(full_key)) if self.is_local else None

    def exists(self, full_key: str) -> bool:
        return bool(self.fs.exists(self._path(full_key)))

    def delete_prefix(self, full_prefix: str) -> None:
        path = self._path(full_prefix)
        with span("artifacts.delete", {"maestro.artifact.prefix": full_prefix}):
            if self.fs.exists(path):
                self.fs.rm(path, recursive=True)

    def check(self) -> None:
        """Raise ``Unavailable`` when the store cannot be listed (readiness probe)."""
        try:
            self.fs.ls(self.root)
        except Exception as exc:
            raise Unavailable(f"artifact store unreachable: {exc}") from exc

    # -- internals ------------------------------------------------------------------------
    def _makedirs(self, path: str) -> None:
        if self.is_local:
            self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)

    def _remove_quietly(self, path: str) -> None:
        try:
            if self.fs.exists(path):
                self.fs.rm(path)
        except OSError:
            pass
