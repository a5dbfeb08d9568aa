"""The Open Inference Protocol v2 (KServe / Triton HTTP): health, model metadata, infer."""

from __future__ import annotations

from fastapi.responses import JSONResponse, Response

from .routes import router

__all__ = ["error_formats", "router"]

PREFIXES = ("/v2/", "/v2")


def _render_error(status: int, code: str, detail: str, headers: dict[str, str]) -> Response:
    return JSONResponse({"error": detail}, status_code=status, headers=headers)


def error_formats() -> list[tuple[tuple[str, ...], object]]:
    """OIP v2's error body ``{"error": "..."}`` for every path under ``/v2``."""
    return [(PREFIXES, _render_error)]
