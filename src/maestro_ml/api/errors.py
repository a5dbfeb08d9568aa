"""Errors as ``application/problem+json``: the one table from domain errors to HTTP statuses."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from maestro_ml.domain import errors as e

log = logging.getLogger("maestro_ml.api")

PROBLEM = "application/problem+json"

STATUS_BY_ERROR: dict[type[e.MaestroError], int] = {
    e.NotFound: 404,
    e.AlreadyExists: 409,
    e.Conflict: 409,
    e.InvalidPath: 400,
    e.PayloadTooLarge: 413,
    e.InvalidInput: 422,
    e.Unauthenticated: 401,
    e.PermissionDenied: 403,
    e.QuotaExceeded: 429,
    e.RateLimited: 429,
    e.Unavailable: 503,
}


def status_for(error: e.MaestroError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]  # type: ignore[index]
    return 500


def problem(
    status: int, title: str, detail: str, code: str, headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {
        "type": f"https://maestro-ml.dev/problems/{code}",
        "title": title, "status": status, "detail": detail, "code": code, **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


# Other protocols' error bodies under their own paths (MLflow's under /api/2.0/mlflow...):
# (path prefixes, render(status, code, detail, headers)), installed by install_error_handlers.
ErrorFormat = tuple[tuple[str, ...], Callable[[int, str, str, dict[str, str]], Response]]


def _respond(
    request: Request, status: int, title: str, detail: str, code: str,
    headers: dict[str, str] | None = None, **extra: Any,
) -> Response:
    path = request.url.path
    for prefixes, render in getattr(request.app.state, "error_formats", ()):
        if path.startswith(prefixes):
            return render(status, code, detail, headers or {})
    return problem(status, title, detail, code, headers, **extra)


def _headers_for(error: e.MaestroError, status: int) -> dict[str, str]:
    headers: dict[str, str] = {}
    retry_after = getattr(error, "retry_after", None) or error.extra.get("retry_after")
    if retry_after is not None and status in (401, 429, 503):
        headers["Retry-After"] = str(max(1, int(float(retry_after) + 0.999)))
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="maestro"'
    return headers


def _json_safe(extra: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in extra.items() if isinstance(v, str | int | float | bool | list | dict)}


async def handle_maestro_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, e.MaestroError)
    status = status_for(exc)
    extra = _json_safe(exc.extra)
    extra.pop("retry_after", None)
    return _respond(
        request, status, exc.title, exc.detail, exc.code, _headers_for(exc, status), **extra
    )


async def handle_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for item in exc.errors()[:20]:
        location = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
        errors.append({"field": location, "message": item.get("msg", "invalid")})
    first = errors[0] if errors else {"field": "", "message": "invalid request"}
    detail = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
    return _respond(request, 422, "Invalid input", detail, "invalid_input", errors=errors)


async def handle_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
    code = codes.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no route for {request.method} {request.url.path}"
    return _respond(request, exc.status_code, detail, detail, code, dict(exc.headers or {}))


async def handle_unstorable_value(request: Request, exc: Exception) -> Response:
    # The database refused a value the schemas let through (a NUL character in a path or
    # query parameter, a number out of the column's range): bad input, not a server fault.
    log.info("database refused a value on %s %s: %s", request.method, request.url.path,
             type(getattr(exc, "orig", exc)).__name__)
    return _respond(
        request, 422, "Invalid input",
        "a value in the request cannot be stored or searched for: remove NUL characters "
        "and keep numbers within 64-bit range", "invalid_input",
    )


async def handle_database_unavailable(request: Request, exc: Exception) -> Response:
    # The database went away mid-request (restart, network, connection limit): the pool
    # reconnects on the next checkout, so the client is told to retry, not that we failed.
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path,
                type(getattr(exc, "orig", exc)).__name__)
    return await handle_maestro_error(
        request, e.Unavailable("the database is unavailable; try again shortly"))


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _respond(
        request, 500, "Internal server error",
        "the server hit an unexpected error; it has been logged — retry or report it",
        "internal_error",
    )


def install_error_handlers(app: FastAPI, formats: Iterable[ErrorFormat] = ()) -> None:
    app.state.error_formats = list(formats)
    app.add_exception_handler(e.MaestroError, handle_maestro_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_error)
    app.add_exception_handler(DataError, handle_unstorable_value)
    app.add_exception_handler(OperationalError, handle_database_unavailable)
    app.add_exception_handler(Exception, handle_unexpected)
