"""HTTP transport of the SDK: one httpx client, credentials, retries and error rebuilding.

Retry rules (the server did not act on the request, so sending it again is safe):

* 429 and 503 are retried for every method, waiting what ``Retry-After`` asks (or an
  exponential backoff with jitter when it is absent);
* connection failures and timeouts are retried only for idempotent methods (GET, HEAD,
  PUT, DELETE): a POST may have been processed before the connection broke;
* a 401 with email/password credentials refreshes the access token and resends once.

Anything else that is not 2xx becomes the domain error the problem document names.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from .credentials import Credentials
from .errors import Unavailable, client_error, error_from_response, parse_retry_after

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({429, 503})

Body = bytes | Callable[[], Iterable[bytes]] | None


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait before resending.

    >>> RetryPolicy(max_retries=0).max_retries
    0
    """

    max_retries: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    # A server asking for a longer pause than this gets its error raised instead: the
    # caller, not the SDK, should decide to block that long.
    max_retry_after: float = 120.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        if retry_after is not None:
            # honour the server, plus a little jitter so clients do not return in lockstep
            return retry_after + rng.uniform(0, min(1.0, 0.1 * retry_after + 0.05))
        ceiling = min(self.backoff_max, self.backoff_base * (2**attempt))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


class Transport:
    """Sends requests to one Maestro server; used by every SDK resource."""

    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        http_transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        verify: bool | str = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._credentials = credentials
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._http = httpx.Client(
            base_url=self.base_url, timeout=timeout, transport=http_transport, verify=verify,
            headers={"User-Agent": "maestro-ml-sdk/0.1", "Accept": "application/json"},
        )

    # -- requests ---------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: Body = None,
        files: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        """Send one request (retrying as the module docstring says); raise on errors.

        ``content`` may be a callable returning a fresh byte iterator, so a streamed body
        can be sent again on retry. With ``stream=True`` the caller must close the response.
        """
        method = method.upper()
        clean_params = _drop_none(params)
        auth_retried = False
        attempt = 0
        while True:
            request = self._http.build_request(
                method, path, params=clean_params, json=json,
                content=content() if callable(content) else content,
                files=files, data=data, headers=headers,
            )
            sent_auth = self._credentials.authorization(self._http)
            if sent_auth is not None:
                request.headers["Authorization"] = sent_auth
            try:
                response = self._http.send(request, stream=stream)
            except httpx.TransportError as exc:
                if method in IDEMPOTENT_METHODS and attempt < self._retry.max_retries:
                    self._sleep(self._retry.delay(attempt, None, self._rng))
                    attempt += 1
                    continue
                raise client_error(
                    Unavailable,
                    f"could not reach the Maestro server at {self.base_url}: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            if (
                response.status_code == 401 and not auth_retried
                and self._credentials.invalidate(sent_auth)
            ):
                auth_retried = True
                response.close()
                continue
            if response.status_code in RETRY_STATUSES and attempt < self._retry.max_retries:
                wait = parse_retry_after(response.headers.get("Retry-After"))
                if wait is None or wait <= self._retry.max_retry_after:
                    response.close()
                    self._sleep(self._retry.delay(attempt, wait, self._rng))
                    attempt += 1
                    continue
            if response.is_error:
                if stream:
                    response.read()
                    response.close()
                raise error_from_response(response)
            return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request and decode its JSON body (None for an empty body, e.g. 204)."""
        response = self.request(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    @contextmanager
    def stream(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        """A streamed response (downloads), closed when the block ends."""
        response = self.request(method, path, stream=True, **kwargs)
        try:
            yield response
        finally:
            response.close()

    def paginate(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        body: Mapping[str, Any] | None = None,
        page_size: int = 100,
        max_items: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every item of a paged list, fetching pages lazily as the caller iterates.

        ``body`` switches to a POST search whose body carries ``limit`` and ``cursor``.
        """
        cursor: str | None = None
        yielded = 0
        while True:
            if body is None:
                page = self.json("GET", path, params={
                    **(params or {}), "limit": page_size, "cursor": cursor,
                })
            else:
                page = self.json("POST", path, params=params, json={
                    **_drop_none(body), "limit": page_size,
                    **({"cursor": cursor} if cursor else {}),
                })
            for item in page.get("items", []):
                yield item
                yielded += 1
                if max_items is not None and yielded >= max_items:
                    return
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def close(self) -> None:
        self._http.close()


def _drop_none(values: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (values or {}).items() if v is not None}
