"""What every SDK resource shares: the client it calls through, typed results, paths."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from ..models import Bound, Result

if TYPE_CHECKING:
    from ..client import Client
    from ..transport import Transport

R = TypeVar("R", bound=Result)


def segment(value: object) -> str:
    """One URL path segment, escaped (names and aliases may hold any character)."""
    return quote(str(value), safe="")


def present(body: Mapping[str, Any]) -> dict[str, Any]:
    """The body without its None fields (the server applies its own defaults)."""
    return {k: v for k, v in body.items() if v is not None}


class Resource:
    """Base of ``client.models``, ``client.runs`` ...: typed calls over the transport."""

    def __init__(self, client: Client) -> None:
        self._client = client

    @property
    def _transport(self) -> Transport:
        return self._client.transport

    def _one(self, cls: type[R], data: Any) -> R:
        result = cls.model_validate(data)
        if isinstance(result, Bound):
            result._bind(self._client)
        return result

    def _each(
        self,
        cls: type[R],
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        body: Mapping[str, Any] | None = None,
        page_size: int = 100,
        max_results: int | None = None,
    ) -> Iterator[R]:
        """Typed items of a paged list, pages fetched lazily as the caller iterates."""
        pages = self._transport.paginate(
            path, params, body=body, page_size=page_size, max_items=max_results
        )
        for item in pages:
            yield self._one(cls, item)

    def _progress(self, override: bool | None) -> bool:
        return self._client.show_progress if override is None else override
