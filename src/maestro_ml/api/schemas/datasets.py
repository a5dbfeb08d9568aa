"""Schemas of datasets (uploads are multipart forms, so only the read side is a model)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .common import Read


class ColumnRead(Read):
    name: str
    type: str


class DatasetRead(Read):
    id: str
    name: str
    version: int
    format: str
    sha256: str
    size_bytes: int
    row_count: int
    columns: list[ColumnRead]
    preview: list[dict[str, Any]]
    description: str | None
    created_at: datetime
