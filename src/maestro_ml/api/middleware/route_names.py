"""The route template of a request, for metric labels, span names and access logs.

Raw paths carry ids and would make label sets unbounded; the template
(``/api/v1/runs/{run_id}``) does not. A request no route matched is ``unmatched``.
"""

from __future__ import annotations

from typing import Any

from starlette.types import Scope

UNMATCHED = "unmatched"
# Holding the route itself keeps its id from being reused by another route.
_templates: dict[int, tuple[Any, str]] = {}


def route_template(scope: Scope) -> str:
    route: Any = scope.get("route")
    if route is None:
        return UNMATCHED
    key = id(route)
    found = _templates.get(key)
    if found is None or found[0] is not route:
        name = getattr(route, "path_format", None) or getattr(route, "path", None) or UNMATCHED
        found = _templates[key] = (route, name)
    return found[1]
