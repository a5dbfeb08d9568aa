"""A span around every public call of a service object, added only when tracing is on.

``traced(service, "runs")`` returns a thin proxy: ``proxy.create(...)`` runs
``service.create(...)`` inside a span named ``runs.create``. With tracing off the container
keeps the plain services, so the proxy costs nothing then.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from . import tracing


class TracedService:
    def __init__(self, service: Any, name: str) -> None:
        self._service = service
        self._name = name
        self._wrapped: dict[str, Callable[..., Any]] = {}

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(self._service, attribute)
        if attribute.startswith("_") or not callable(value):
            return value
        wrapped = self._wrapped.get(attribute)
        if wrapped is None:
            wrapped = self._wrapped[attribute] = _spanned(value, f"{self._name}.{attribute}")
        return wrapped


def _spanned(method: Callable[..., Any], span_name: str) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        with tracing.span(span_name):
            return method(*args, **kwargs)

    return call


def traced(service: Any, name: str) -> Any:
    return TracedService(service, name) if tracing.tracer() is not None else service
