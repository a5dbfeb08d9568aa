"""Rich progress bars the SDK shows for uploads and job waits (on stderr; off on request)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

_console = Console(stderr=True)


class ProgressReader:
    """A binary file whose reads advance a progress bar (rewinds reset it).

    httpx seeks multipart files back to 0 before each send, so a retried upload shows
    its real progress again instead of overshooting.
    """

    def __init__(self, handle: IO[bytes], progress: Progress | None, task: TaskID | None):
        self._handle = handle
        self._progress = progress
        self._task = task

    def read(self, size: int = -1) -> bytes:
        chunk = self._handle.read(size)
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, len(chunk))
        return chunk

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        position = self._handle.seek(offset, whence)
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=position)
        return position

    def tell(self) -> int:
        return self._handle.tell()

    def fileno(self) -> int:
        return self._handle.fileno()

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(64 * 1024):
            yield chunk


@contextmanager
def upload_progress(path: Path, enabled: bool) -> Iterator[ProgressReader]:
    """Open ``path`` for reading, with a transfer bar while the block runs."""
    with open(path, "rb") as handle:
        if not enabled:
            yield ProgressReader(handle, None, None)
            return
        columns = (
            TextColumn("[bold]uploading[/] {task.description}"), BarColumn(),
            DownloadColumn(), TransferSpeedColumn(),
        )
        with Progress(*columns, console=_console, transient=False) as progress:
            task = progress.add_task(path.name, total=path.stat().st_size)
            yield ProgressReader(handle, progress, task)


class JobProgress:
    """The bar shown while waiting for a job: fraction done plus the job's own message."""

    def __init__(self, progress: Progress | None, task: TaskID | None) -> None:
        self._progress = progress
        self._task = task

    def update(self, fraction: float | None, message: str | None, status: str) -> None:
        if self._progress is None or self._task is None:
            return
        fields: dict[str, Any] = {"description": message or status}
        if fraction is not None:
            fields["completed"] = max(0.0, min(1.0, float(fraction))) * 100
        self._progress.update(self._task, **fields)


@contextmanager
def job_progress(label: str, enabled: bool) -> Iterator[JobProgress]:
    """A progress bar for a job wait, labelled e.g. ``training``."""
    if not enabled:
        yield JobProgress(None, None)
        return
    columns = (
        TextColumn(f"[bold]{label}[/]"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(), TextColumn("{task.description}"),
    )
    with Progress(*columns, console=_console, transient=False) as progress:
        yield JobProgress(progress, progress.add_task("queued", total=100))
