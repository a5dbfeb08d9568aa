"""``client.datasets``: upload versioned tables (CSV/Parquet), read them back."""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator
from pathlib import Path

from ..errors import InvalidInput, client_error
from ..models import Dataset
from ..progress import upload_progress
from .base import Resource, present, segment


class Datasets(Resource):
    """``client.datasets``: upload, read, download and delete dataset versions."""

    def upload(
        self,
        path: str | Path,
        name: str | None = None,
        description: str | None = None,
        progress: bool | None = None,
    ) -> Dataset:
        """Upload a CSV or Parquet file (streamed, with a progress bar); same name → next version.

        >>> ds = client.datasets.upload(path="data.csv", name="churn")
        >>> ds.version, ds.row_count, [c.name for c in ds.columns]
        """
        path = Path(path)
        if not path.is_file():
            raise client_error(
                InvalidInput, f"dataset file '{path}' does not exist or is not a file"
            )
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        form = present({"name": name or path.stem, "description": description})
        with upload_progress(path, self._progress(progress)) as reader:
            data = self._transport.json(
                "POST", "/api/v1/datasets", data=form,
                files={"file": (path.name, reader, content_type)},
            )
        return self._one(Dataset, data)

    def get(self, dataset_id: str) -> Dataset:
        """One dataset version by id.

        >>> client.datasets.get(ds.id).sha256
        """
        data = self._transport.json("GET", f"/api/v1/datasets/{segment(dataset_id)}")
        return self._one(Dataset, data)

    def list(self, name: str | None = None, max_results: int | None = None) -> Iterator[Dataset]:
        """Datasets, newest first, lazily; ``name`` lists the versions of one dataset.

        >>> [d.version for d in client.datasets.list(name="churn")]
        """
        return self._each(Dataset, "/api/v1/datasets", {"name": name}, max_results=max_results)

    def download(self, dataset_id: str, destination: str | Path) -> Path:
        """Stream a dataset's file to ``destination`` (a file path); returns it.

        >>> client.datasets.download(ds.id, "copy.csv")
        """
        destination = Path(destination)
        path = f"/api/v1/datasets/{segment(dataset_id)}/content"
        with self._transport.stream("GET", path) as response, open(destination, "wb") as out:
            for chunk in response.iter_bytes():
                out.write(chunk)
        return destination

    def delete(self, dataset_id: str) -> None:
        """Delete one dataset version.

        >>> client.datasets.delete(ds.id)
        """
        self._transport.request("DELETE", f"/api/v1/datasets/{segment(dataset_id)}")
