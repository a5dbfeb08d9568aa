"""Direct dispatch: FastAPI's route matching and dependency solving, short-cut for plain routes.

FastAPI finds a request's route by trying every route in order (the included routers
one by one) and then solves the route's dependency tree through its general machinery —
together a few hundred microseconds per request on this API's ~200 routes, more than
the MLflow ``log-metric`` use case itself costs. This layer sits exactly where the router
does (inside every middleware and the exception handlers) and removes both costs for
the routes whose signature is *plain*:

- the route is found by one dictionary look-up on ``(method, path)``: the first request
  for a path goes through FastAPI's router, and the route it chose is remembered, with the
  path parameters it extracted (routes never change once the app is built);
- a plain route's parameters are ``str`` path parameters, the ``Request``, and
  dependencies whose own parameters are again only the ``Request`` and dependencies — the
  container, the caller under ``require(...)``, an MLflow request body — with no query,
  header, cookie or body fields for FastAPI to validate, no ``yield`` dependencies, and a
  ``Response`` as the declared return (nothing to serialise);
- those dependencies are called in FastAPI's order and with its semantics (each callable
  once per request, synchronous ones in the worker pool), and the endpoint likewise — except
  that a synchronous endpoint marked ``deps.short_transaction`` runs on the event loop when
  the ``LoopWriter`` finds embedded SQLite free this instant, and in the pool otherwise.

Everything else — any route with a validated parameter, dependency overrides (tests), or
FastAPI's own telemetry switched on — goes through FastAPI unchanged. Errors raised by
dependencies or endpoints propagate to the same exception handlers as on FastAPI's path,
and the scope carries the same ``route``/``endpoint``/``path_params``, so the audit trail,
metrics and access logs cannot tell the two paths apart.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from maestro_ml.storage.database import LoopWriter, WouldWait

Resolver = Callable[[Request, dict[Any, Any]], Awaitable[Any]]
# Keys the router sets on the scope when it selects a route; copied onto direct requests.
ROUTING_KEYS = ("router", "endpoint", "route", "fastapi")
MAX_KNOWN_PATHS = 20_000


@dataclass(frozen=True)
class _Target:
    routing: dict[str, Any]
    plan: _Plan


class DirectDispatch:
    """ASGI app in the router's place: known plain routes directly, the rest through ``app``."""

    def __init__(self, app: ASGIApp, fastapi_app: Any, writer: LoopWriter | None = None) -> None:
        self.app = app
        self.fastapi_app = fastapi_app
        self.writer = writer
        self._known: dict[tuple[str, str], _Target | None] = {}
        self._plans: dict[int, tuple[APIRoute, _Plan | None]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.fastapi_app.dependency_overrides:
            await self.app(scope, receive, send)
            return
        key = (scope["method"], scope["path"])
        target = self._known.get(key)
        if target is None or "fastapi.telemetry" in scope:
            await self.app(scope, receive, send)
            if key not in self._known:
                self._learn(key, scope)
            return
        scope.update(target.routing)
        scope["path_params"] = dict(target.routing["path_params"])
        await target.plan.run(scope, receive, send)

    def _learn(self, key: tuple[str, str], scope: Scope) -> None:
        route = scope.get("route")
        if not isinstance(route, APIRoute) or key[0] not in route.methods:
            return  # nothing matched, a mount, or a 405: not a route this layer serves
        if len(self._known) >= MAX_KNOWN_PATHS:
            self._known.clear()  # bounded: many distinct ids only cost re-learning
        plan = self._plan(route)
        routing = {name: scope[name] for name in ROUTING_KEYS if name in scope}
        routing["path_params"] = dict(scope.get("path_params") or {})
        if isinstance(routing.get("fastapi"), dict):
            routing["fastapi"] = dict(routing["fastapi"])
        self._known[key] = _Target(routing, plan) if plan is not None else None

    def _plan(self, route: APIRoute) -> _Plan | None:
        cached = self._plans.get(id(route))
        if cached is None or cached[0] is not route:
            cached = self._plans[id(route)] = (route, plan_for(route, self.writer))
        return cached[1]


def install_direct_dispatch(app: Any, writer: LoopWriter | None = None) -> None:
    """Put the direct dispatcher in the router's place (inside middleware and error handlers).

    ``writer``: the database's ``LoopWriter``, for routes marked ``short_transaction``.
    """
    router = app.router
    router.middleware_stack = DirectDispatch(router.middleware_stack, app, writer)


# -- plans -----------------------------------------------------------------------------
class _Plan:
    def __init__(self, route: APIRoute, resolvers: list[tuple[str | None, Resolver]],
                 path_params: list[str], request_param: str | None,
                 writer: LoopWriter | None) -> None:
        self.endpoint = route.endpoint
        self.is_async = _is_async(route.endpoint)
        self.writer = writer if getattr(route.endpoint, "short_transaction", False) else None
        self.resolvers = resolvers
        self.path_params = path_params
        self.request_param = request_param

    async def run(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        kwargs = await _arguments(self.resolvers, request, {})
        path_params = scope["path_params"]
        for name in self.path_params:
            kwargs[name] = path_params[name]
        if self.request_param is not None:
            kwargs[self.request_param] = request
        if self.is_async:
            response = await self.endpoint(**kwargs)
        else:
            response = self._on_loop(kwargs) or await run_in_threadpool(self.endpoint, **kwargs)
        await response(scope, receive, send)

    def _on_loop(self, kwargs: dict[str, Any]) -> Response | None:
        """The endpoint's response, run right here if the database lets it start at once."""
        if self.writer is None:
            return None
        with self.writer.attempt() as now:
            if now:
                try:
                    return self.endpoint(**kwargs)  # type: ignore[no-any-return]
                except WouldWait:  # nothing written: the pool runs it, waiting as it may
                    return None
        return None


def plan_for(route: APIRoute, writer: LoopWriter | None = None) -> _Plan | None:
    """The direct plan of a plain route, or None where FastAPI must handle it."""
    dependant = route.dependant
    if route.response_model is not None or not _returns_response(route.endpoint):
        return None
    if not _plain(dependant, allow_path_params=True):
        return None
    path_params = []
    for field in dependant.path_params:
        if field.alias != field.name or getattr(field.field_info, "annotation", None) is not str:
            return None
        path_params.append(field.name)
    resolvers = _sub_resolvers(dependant)
    if resolvers is None:
        return None
    request_param = dependant.request_param_name or dependant.http_connection_param_name
    return _Plan(route, resolvers, path_params, request_param, writer)


def _sub_resolvers(dependant: Any) -> list[tuple[str | None, Resolver]] | None:
    """Resolvers of a dependant's dependencies, in FastAPI's order; None if one is not plain."""
    resolvers = []
    for sub in dependant.dependencies:
        resolver = _resolver(sub)
        if resolver is None:
            return None
        resolvers.append((sub.name, resolver))
    return resolvers


async def _arguments(
    resolvers: list[tuple[str | None, Resolver]], request: Request, cache: dict[Any, Any]
) -> dict[str, Any]:
    """The keyword arguments the resolvers produce (unnamed ones run for their effect)."""
    kwargs: dict[str, Any] = {}
    for name, resolve in resolvers:
        value = await resolve(request, cache)
        if name is not None:
            kwargs[name] = value
    return kwargs


def _resolver(dependant: Any) -> Resolver | None:
    """A resolver for one dependency (and its own dependencies), or None if not plain."""
    call = dependant.call
    if call is None or not _plain(dependant, allow_path_params=False) or _is_generator(call):
        return None
    subs = _sub_resolvers(dependant)
    if subs is None:
        return None
    is_async = _is_async(call)
    request_param = dependant.request_param_name or dependant.http_connection_param_name
    use_cache = dependant.use_cache

    async def resolve(request: Request, cache: dict[Any, Any]) -> Any:
        if use_cache and call in cache:
            return cache[call]
        kwargs = await _arguments(subs, request, cache)
        if request_param is not None:
            kwargs[request_param] = request
        value = await call(**kwargs) if is_async else await run_in_threadpool(call, **kwargs)
        if use_cache:
            cache[call] = value
        return value

    return resolve


def _plain(dependant: Any, *, allow_path_params: bool) -> bool:
    fields = (dependant.query_params, dependant.header_params, dependant.cookie_params,
              dependant.body_params)
    specials = (dependant.websocket_param_name, dependant.response_param_name,
                dependant.background_tasks_param_name, dependant.security_scopes_param_name)
    if any(fields) or any(name is not None for name in specials):
        return False
    return allow_path_params or not dependant.path_params


def _returns_response(endpoint: Callable[..., Any]) -> bool:
    returned = inspect.get_annotations(endpoint).get("return")
    if isinstance(returned, str):  # postponed annotations: only the return type is resolved
        try:
            returned = eval(returned, endpoint.__globals__)  # noqa: S307 - the module's own text
        except Exception:  # an annotation that does not resolve: leave the route to FastAPI
            return False
    return inspect.isclass(returned) and issubclass(returned, Response)


def _is_async(call: Any) -> bool:
    if inspect.iscoroutinefunction(call):
        return True
    dunder = getattr(call, "__call__", None)  # noqa: B004 - dependency instances
    return not inspect.isfunction(call) and inspect.iscoroutinefunction(dunder)


def _is_generator(call: Any) -> bool:
    candidates = (call, getattr(call, "__call__", None))  # noqa: B004
    return any(inspect.isgeneratorfunction(c) or inspect.isasyncgenfunction(c)
               for c in candidates if c is not None)
