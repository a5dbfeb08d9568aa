"""Shared API schema pieces: the strict base model, pages and the problem document."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Request bodies: unknown fields are an error (no mass assignment by stray fields)."""

    model_config = ConfigDict(extra="forbid", str_max_length=100_000)


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
