"""Datasets: versioned tabular files (CSV, Parquet) uploaded, profiled, listed, downloaded.

An upload is streamed into the artifact store under ``datasets/<dataset_id>/<file name>``
(hashed and size-limited as it goes), profiled (schema, row count, preview) and only then
recorded; a file that cannot be read as its format leaves neither a row nor a file behind.
Uploading under an existing name adds the next version. ``import_from_url`` fetches a file
through the SSRF-safe fetcher port and sends it down the same pipeline.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import unquote, urlsplit

from maestro_ml.auth.principal import Principal
from maestro_ml.domain.errors import AlreadyExists, InvalidInput
from maestro_ml.domain.names import validate_name
from maestro_ml.domain.paths import canonical_key
from maestro_ml.ml.datasets import detect_format, profile_table

from .ports import ArtifactStore, UnitOfWorkFactory

CHUNK_BYTES = 1024 * 1024
MAX_DESCRIPTION_CHARS = 10_000
# Two uploads of one name at the same moment both read version N; the loser tries N+1.
VERSION_ATTEMPTS = 3
MEDIA_TYPES = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}
FORMAT_BY_MEDIA_TYPE = {
    "text/csv": "csv", "application/csv": "csv", "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet", "application/parquet": "parquet",
}


class FetchedFile(Protocol):
    path: Path
    url: str
    content_type: str | None


class UrlFetcher(Protocol):
    """Downloads a URL into ``directory`` refusing internal addresses (storage.remote_files)."""

    def fetch(self, url: str, max_bytes: int, directory: Path) -> FetchedFile: ...


def imported_filename(url: str, content_type: str | None) -> str:
    """A file name for a fetched file: the URL's last path segment when it names a known
    format, else ``import.<format>`` from the Content-Type."""
    segment = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    try:
        name = upload_filename(segment)
        detect_format(name)
        return name
    except InvalidInput:
        pass
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in FORMAT_BY_MEDIA_TYPE:
        return f"import.{FORMAT_BY_MEDIA_TYPE[media]}"
    raise InvalidInput(
        f"url: cannot tell the format of '{url[:200]}': its path should end in .csv or "
        ".parquet, or the server should send Content-Type text/csv", field="url"
    )


@dataclass(frozen=True)
class DatasetContent:
    """An open download: the dataset row, its file name and media type, and the bytes."""

    dataset: Any
    filename: str
    media_type: str
    chunks: Iterator[bytes]


def dataset_prefix(dataset_id: str) -> str:
    return f"datasets/{dataset_id}"


def upload_filename(raw: str | None) -> str:
    """The last segment of a client-supplied file name, checked as an artifact key segment."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name:
        raise InvalidInput("file: the upload has no file name; send it as a named file part")
    return canonical_key(name)


class DatasetService:
    def __init__(
        self, uow: UnitOfWorkFactory, artifacts: ArtifactStore, max_upload_bytes: int,
        fetcher: UrlFetcher | None = None,
    ) -> None:
        self._uow = uow
        self._artifacts = artifacts
        self._max_bytes = max_upload_bytes
        self._fetcher = fetcher

    def upload(
        self, principal: Principal, *, name: str, filename: str | None, content: IO[bytes],
        description: str | None = None,
    ) -> Any:
        """Store, profile and record an uploaded file as the next version of ``name``.

        >>> datasets.upload(p, name="churn", filename="churn.csv", content=f).version
        1
        """
        name = validate_name(name, "dataset")
        if description is not None and len(description) > MAX_DESCRIPTION_CHARS:
            raise InvalidInput(f"description: at most {MAX_DESCRIPTION_CHARS} characters")
        filename = upload_filename(filename)
        fmt = detect_format(filename)
        dataset_id = uuid.uuid4().hex
        prefix = self._artifacts.tenant_key(principal.tenant_id, dataset_prefix(dataset_id))
        key = f"datasets/{dataset_id}/{filename}"
        try:
            stored = self._artifacts.write_stream(
                self._artifacts.tenant_key(principal.tenant_id, key),
                iter(lambda: content.read(CHUNK_BYTES), b""), max_bytes=self._max_bytes,
            )
            with tempfile.TemporaryDirectory(prefix="maestro-dataset-") as scratch:
                profile = profile_table(
                    self._local_or_copy(stored.key, Path(scratch) / filename), fmt
                )
            return self._record(
                principal, dataset_id=dataset_id, name=name, format=fmt, artifact_key=key,
                sha256=stored.sha256, size_bytes=stored.size_bytes, row_count=profile.row_count,
                columns=profile.schema, preview=profile.preview, description=description,
                created_by=principal.user_id,
            )
        except BaseException:
            self._artifacts.delete_prefix(prefix)
            raise

    def import_from_url(
        self, principal: Principal, *, name: str, url: str, description: str | None = None
    ) -> Any:
        """Fetch ``url`` (refusing internal addresses) and upload it as the next version.

        Nothing is fetched before the name and description are checked.
        """
        name = validate_name(name, "dataset")
        if description is not None and len(description) > MAX_DESCRIPTION_CHARS:
            raise InvalidInput(f"description: at most {MAX_DESCRIPTION_CHARS} characters")
        if self._fetcher is None:
            raise InvalidInput("url: importing from URLs is not configured on this server")
        with tempfile.TemporaryDirectory(prefix="maestro-import-") as scratch:
            fetched = self._fetcher.fetch(url, self._max_bytes, Path(scratch))
            filename = imported_filename(fetched.url, fetched.content_type)
            with fetched.path.open("rb") as content:
                return self.upload(
                    principal, name=name, filename=filename, content=content,
                    description=description,
                )

    def list_datasets(
        self, principal: Principal, *, limit: int, cursor: str | None = None,
        name: str | None = None,
    ) -> Any:
        """Newest first; ``name`` lists the versions of one dataset."""
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            where = [] if name is None else [uow.datasets.row.name == name]
            return uow.datasets.list(limit=limit, cursor=cursor, where=where)

    def get_dataset(self, principal: Principal, dataset_id: str) -> Any:
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            return uow.datasets.get(dataset_id)

    def open_content(self, principal: Principal, dataset_id: str) -> DatasetContent:
        """The file as uploaded, opened now so a missing file fails before any byte is sent."""
        dataset = self.get_dataset(principal, dataset_id)
        handle = self._artifacts.open_read(
            self._artifacts.tenant_key(principal.tenant_id, dataset.artifact_key)
        )
        return DatasetContent(
            dataset, dataset.artifact_key.rsplit("/", 1)[-1],
            MEDIA_TYPES.get(dataset.format, "application/octet-stream"), _read_chunks(handle),
        )

    def delete_dataset(self, principal: Principal, dataset_id: str) -> None:
        """Delete the row, then the file (runs and model versions keep a null dataset)."""
        with self._uow.for_tenant(principal.tenant_id) as uow:
            uow.datasets.delete(uow.datasets.get(dataset_id))
            uow.commit()
        self._artifacts.delete_prefix(
            self._artifacts.tenant_key(principal.tenant_id, dataset_prefix(dataset_id))
        )

    def local_file(self, tenant_id: str, dataset: Any, directory: Path) -> Path:
        """A local file holding the dataset: the stored file itself when the store is local,
        else a copy in ``directory``."""
        return self._local_or_copy(
            self._artifacts.tenant_key(tenant_id, dataset.artifact_key),
            directory / dataset.artifact_key.rsplit("/", 1)[-1],
        )

    # -- internals ------------------------------------------------------------------------
    def _local_or_copy(self, full_key: str, target: Path) -> Path:
        local = self._artifacts.local_path(full_key)
        if local is not None:
            return local
        with self._artifacts.open_read(full_key) as source, target.open("wb") as out:
            shutil.copyfileobj(source, out, CHUNK_BYTES)
        return target

    def _record(self, principal: Principal, dataset_id: str, **fields: Any) -> Any:
        attempts_left = VERSION_ATTEMPTS
        while True:
            with self._uow.for_tenant(principal.tenant_id) as uow:
                version = uow.datasets.latest_version(fields["name"]) + 1
                row = uow.datasets.create(id=dataset_id, version=version, **fields)
                try:
                    uow.commit()
                    return row
                except AlreadyExists:
                    attempts_left -= 1
                    if not attempts_left:
                        raise


def _read_chunks(handle: IO[bytes]) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk
