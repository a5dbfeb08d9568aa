"""Shared API schema pieces: the strict base model, pages and the problem document."""

from __future__ import annotations

import re
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, model_validator

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _unstorable(value: Any, where: str) -> str | None:
    """The path of the first string (key or value) holding NUL or a lone surrogate, which
    PostgreSQL and UTF-8 cannot store."""
    if isinstance(value, str):
        if _UNSTORABLE.search(value):
            return where or "body"
    elif isinstance(value, dict):
        for key, item in value.items():
            found = _unstorable(key, where) or _unstorable(item, f"{where}.{key}".lstrip("."))
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _unstorable(item, f"{where}[{index}]")
            if found:
                return found
    return None


class Strict(BaseModel):
    """Request bodies: unknown fields are an error (no mass assignment by stray fields), and
    no string may hold NUL or a lone surrogate."""

    model_config = ConfigDict(extra="forbid", str_max_length=100_000)

    @model_validator(mode="before")
    @classmethod
    def _storable_strings(cls, data: Any) -> Any:
        found = _unstorable(data, "")
        if found:
            raise ValueError(f"{found}: text may not contain NUL characters or lone surrogates")
        return data


class Read(BaseModel):
    """Response bodies, built from ORM rows."""

    model_config = ConfigDict(from_attributes=True)


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[dict[str, Any]] | None = None


def page_of(schema: type[BaseModel], page: Any) -> dict[str, Any]:
    return {
        "items": [schema.model_validate(item) for item in page.items],
        "next_cursor": page.next_cursor,
    }
