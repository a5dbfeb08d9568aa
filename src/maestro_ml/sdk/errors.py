"""Errors the SDK raises: the server's problem+json rebuilt into the domain's classes.

The server answers every failure as ``application/problem+json`` with a stable ``code``;
:func:`error_from_response` turns it back into the same class the server raised
(``NotFound``, ``InvalidInput``, ``PermissionDenied`` ...), so callers catch exactly what
the server meant::

    try:
        client.models.get("0" * 32)
    except maestro_ml.NotFound as exc:
        print(exc.status, exc.detail, exc.problem["code"])   # 404 ... not_found

Every rebuilt error carries ``status`` (the HTTP status) and ``problem`` (the body as a
dict). Unreachable servers become :class:`Unavailable` once retries are spent; waits that
run out of time raise :class:`WaitTimeout`.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

import httpx

from maestro_ml.domain.errors import (
    ERRORS_BY_CODE,
    AlreadyExists,
    Conflict,
    InvalidInput,
    InvalidPath,
    MaestroError,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    QuotaExceeded,
    RateLimited,
    RetryableError,
    TrainingError,
    Unauthenticated,
    Unavailable,
)

__all__ = [
    "AlreadyExists", "Conflict", "InvalidInput", "InvalidPath", "MaestroError", "NotFound",
    "PayloadTooLarge", "PermissionDenied", "QuotaExceeded", "RateLimited", "RetryableError",
    "TrainingError", "Unauthenticated", "Unavailable", "WaitTimeout", "client_error",
    "error_from_problem", "error_from_response",
]

# When a body carries no code we know (a proxy's HTML 502, a framework 405), the status
# still says which family the failure belongs to.
_CLASS_BY_STATUS: dict[int, type[MaestroError]] = {
    400: InvalidInput, 401: Unauthenticated, 403: PermissionDenied, 404: NotFound,
    409: Conflict, 413: PayloadTooLarge, 422: InvalidInput, 429: RateLimited,
    502: Unavailable, 503: Unavailable, 504: Unavailable,
}

_RESERVED = frozenset({"type", "title", "status", "detail", "code"})

E = TypeVar("E", bound=MaestroError)


class WaitTimeout(TimeoutError):
    """A wait (for a job, a run) took longer than its ``timeout``.

    Not a :class:`MaestroError`: the server did nothing wrong, the caller stopped waiting.
    ``job_id`` names what is still going on, so the wait can be resumed::

        try:
            run = exp.wait_for_completion(timeout=60)
        except maestro_ml.WaitTimeout as exc:
            run = client.jobs.wait(exc.job_id).run_id
    """

    def __init__(self, message: str, job_id: str | None = None) -> None:
        super().__init__(message)
        self.job_id = job_id


def error_from_problem(status: int, problem: dict[str, Any]) -> MaestroError:
    """Rebuild the domain error a problem document describes.

    >>> err = error_from_problem(404, {"code": "not_found", "detail": "model 'x' does not exist"})
    >>> type(err).__name__, err.status, err.detail
    ('NotFound', 404, "model 'x' does not exist")
    """
    code = problem.get("code")
    cls = ERRORS_BY_CODE.get(code) if isinstance(code, str) else None
    if cls is None:
        cls = _CLASS_BY_STATUS.get(status, MaestroError)
    detail = str(problem.get("detail") or problem.get("title") or f"HTTP {status}")
    extra = {k: v for k, v in problem.items() if k not in _RESERVED and isinstance(k, str)}
    error = cls(detail, **extra)
    error.status = status  # type: ignore[attr-defined]
    error.problem = problem  # type: ignore[attr-defined]
    return error


def client_error(cls: type[E], detail: str, **extra: Any) -> E:
    """An error the SDK raises itself (no HTTP answer): ``status`` is None, ``problem``
    has the same shape as the server's, so handlers need not tell the two apart.

    >>> client_error(InvalidInput, "pass features= or instances=").problem["code"]
    'invalid_input'
    """
    error = cls(detail, **extra)
    error.status = None  # type: ignore[attr-defined]
    error.problem = {  # type: ignore[attr-defined]
        "title": cls.title, "status": None, "detail": detail, "code": cls.code, **extra,
    }
    return error


def error_from_response(response: httpx.Response) -> MaestroError:
    """Rebuild the domain error an HTTP error response describes (problem+json or not)."""
    problem = _problem_body(response)
    error = error_from_problem(response.status_code, problem)
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if retry_after is not None and isinstance(error, RateLimited | Unavailable):
        error.retry_after = retry_after
    return error


def _problem_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = json.loads(response.content or b"null")
    except ValueError:
        body = None
    if isinstance(body, dict):
        # FastAPI's own {"detail": ...} shape, should a route bypass the handlers
        if not isinstance(body.get("detail"), str) and "detail" in body:
            body = {**body, "detail": json.dumps(body["detail"])}
        return {"status": response.status_code, **body}
    text = response.text.strip()[:500] if response.content else ""
    detail = text or response.reason_phrase or f"HTTP {response.status_code}"
    return {"status": response.status_code, "title": response.reason_phrase, "detail": detail}


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date).

    >>> parse_retry_after("3"), parse_retry_after(None)
    (3.0, None)
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from datetime import UTC, datetime
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
