"""Schemas of datasets (uploads are multipart forms, so only the read side is a model)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from .common import Read, Strict


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


class DatasetImport(Strict):
    name: str = Field(max_length=256, description="same name: next version")
    url: str = Field(max_length=2048, description="http(s) URL of a .csv or .parquet file")
    description: str | None = Field(default=None, max_length=10_000)
