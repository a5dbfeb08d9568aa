"""Direct dispatch answers exactly as FastAPI would, and only for plain routes."""

from __future__ import annotations

import threading
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from starlette.responses import Response

from maestro_ml.api.direct_dispatch import DirectDispatch, install_direct_dispatch, plan_for

CALLS: list[str] = []


class Refused(Exception):
    pass


async def caller(request: Request) -> str:
    CALLS.append("caller")
    name = request.headers.get("x-user")
    if not name:
        raise Refused("no user")
    return name


def sync_tenant(user: Annotated[str, Depends(caller)]) -> str:
    CALLS.append("tenant")
    return f"{user}-tenant"


def build() -> tuple[FastAPI, DirectDispatch]:
    app = FastAPI()

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        return JSONResponse({"refused": str(exc)}, status_code=401)

    @app.post("/things/{name}")
    async def create(
        name: str, request: Request, user: Annotated[str, Depends(caller)],
        tenant: Annotated[str, Depends(sync_tenant)],
    ) -> Response:
        body = await request.body()
        return JSONResponse({"name": name, "user": user, "tenant": tenant, "body": body.decode()})

    @app.get("/sync")
    def in_thread(user: Annotated[str, Depends(caller)]) -> Response:
        return JSONResponse({"thread": threading.current_thread().name, "user": user})

    @app.get("/validated")
    async def validated(limit: Annotated[int, Query()] = 5) -> Response:
        return JSONResponse({"limit": limit})

    @app.get("/model")
    async def model() -> dict[str, int]:
        return {"n": 1}

    install_direct_dispatch(app)
    return app, app.router.middleware_stack


def route(app: FastAPI, path: str) -> object:
    return next(r for r in app.routes if getattr(r, "path", None) == path)


def test_only_plain_routes_get_a_plan() -> None:
    app, _ = build()
    assert plan_for(route(app, "/things/{name}")) is not None
    assert plan_for(route(app, "/sync")) is not None
    assert plan_for(route(app, "/validated")) is None  # a query field FastAPI validates
    assert plan_for(route(app, "/model")) is None  # a return value to serialise


def test_second_request_goes_direct_with_the_same_answer() -> None:
    app, dispatch = build()
    with TestClient(app) as client:
        first = client.post("/things/a%20b", content=b"hi", headers={"x-user": "ann"})
        assert dispatch._known[("POST", "/things/a b")] is not None
        CALLS.clear()
        second = client.post("/things/a%20b", content=b"hi", headers={"x-user": "ann"})
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json() == {
        "name": "a b", "user": "ann", "tenant": "ann-tenant", "body": "hi"}
    assert CALLS == ["caller", "tenant"]  # each dependency once per request, in order


def test_dependency_errors_reach_the_app_exception_handlers() -> None:
    app, dispatch = build()
    with TestClient(app) as client:
        client.post("/things/x", headers={"x-user": "ann"})
        assert dispatch._known[("POST", "/things/x")] is not None
        refused = client.post("/things/x")
    assert refused.status_code == 401
    assert refused.json() == {"refused": "no user"}


def test_sync_endpoints_run_in_the_worker_pool() -> None:
    app, dispatch = build()
    with TestClient(app) as client:
        client.get("/sync", headers={"x-user": "ann"})
        direct = client.get("/sync", headers={"x-user": "ann"})
    assert dispatch._known[("GET", "/sync")] is not None
    assert direct.json()["thread"] != threading.main_thread().name
    assert "portal" not in direct.json()["thread"].lower()


@pytest.mark.parametrize("path", ["/validated", "/model"])
def test_other_routes_stay_with_fastapi(path: str) -> None:
    app, dispatch = build()
    with TestClient(app) as client:
        client.get(path)
        again = client.get(path + "?limit=7")
    assert dispatch._known[("GET", path)] is None
    assert again.status_code == 200


def test_unmatched_and_wrong_method_are_not_learned() -> None:
    app, dispatch = build()
    with TestClient(app) as client:
        assert client.get("/nowhere").status_code == 404
        assert client.delete("/sync").status_code == 405
    assert ("GET", "/nowhere") not in dispatch._known
    assert ("DELETE", "/sync") not in dispatch._known


def test_dependency_overrides_send_everything_through_fastapi() -> None:
    app, _ = build()
    app.dependency_overrides[caller] = lambda: "override"
    with TestClient(app) as client:
        client.get("/sync")
        answer = client.get("/sync")
    assert answer.json()["user"] == "override"


def test_the_scope_carries_the_route_as_fastapi_sets_it() -> None:
    app, _ = build()
    seen: list[tuple[object, object]] = []

    class Spy:
        def __init__(self, inner: object) -> None:
            self.inner = inner

        async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
            await self.inner(scope, receive, send)
            seen.append((scope.get("route"), scope.get("path_params")))

    app.add_middleware(Spy)
    with TestClient(app) as client:
        client.post("/things/one", headers={"x-user": "ann"})
        client.post("/things/one", headers={"x-user": "ann"})
    assert seen[0] == seen[1]
    assert seen[1][0] is route(app, "/things/{name}")
    assert seen[1][1] == {"name": "one"}
