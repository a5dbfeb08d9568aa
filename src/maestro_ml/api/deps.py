"""FastAPI dependencies: the container, the authenticated principal and ``require``.

Every route states its permission once with ``require("resource:action")``; the returned
dependency carries the permission as an attribute so a test can walk ``app.routes`` and
prove that no route lacks one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from maestro_ml.auth.principal import Principal
from maestro_ml.domain.errors import PermissionDenied, Unauthenticated
from maestro_ml.domain.pagination import clamp_page_size

from .middleware.rate_limit import enforce_principal_limits

if TYPE_CHECKING:
    from maestro_ml.bootstrap import Container

_bearer = HTTPBearer(auto_error=False, description="An API key (mk_...) or an access token")


async def get_container(request: Request) -> Container:
    return request.app.state.container  # type: ignore[no-any-return]


ContainerDep = Annotated["Container", Depends(get_container)]


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise Unauthenticated(
            "missing credentials: send 'Authorization: Bearer <API key or token>'"
        )
    # Two Authorization headers are ambiguous: a proxy and this app could each pick a
    # different one, so refuse rather than guess.
    if len(request.headers.getlist("authorization")) > 1:
        raise Unauthenticated("send exactly one Authorization header")
    identity = request.app.state.container.identity
    # Tokens and cached keys resolve in microseconds on the event loop; only a key lookup
    # in the database goes to a worker thread.
    principal = identity.authenticate_without_io(credentials.credentials)
    if principal is None:
        principal = await run_in_threadpool(identity.authenticate, credentials.credentials)
    request.state.principal = principal
    enforce_principal_limits(request.scope["state"], principal)  # tenant and key tiers
    return principal


def require(permission: str, authenticator: Any = authenticate) -> Any:
    """A dependency that authenticates the caller and checks one permission.

    ``authenticator`` is the dependency that yields the principal (a protocol with its own
    credentials, such as MLflow's HTTP Basic, passes its own).
    """

    # A default, not an Annotated hint: hints are strings here and could not see ``authenticator``.
    async def check(principal: Principal = Depends(authenticator)) -> Principal:
        if not principal.can(permission):
            raise PermissionDenied(
                f"your role '{principal.role.value}' lacks the permission '{permission}'"
            )
        return principal

    check.permission = permission  # type: ignore[attr-defined]
    check.__name__ = f"require_{permission.replace(':', '_')}"
    return Depends(check)


# A route appending data to a run (metrics, params, inputs) is audited once per client,
# actor and path in this window, not once per call (``middleware.audit``).
RUN_DATA_AUDIT_WINDOW_SECONDS = 60.0


def appends_run_data(endpoint: Any) -> Any:
    """Mark a route whose successful calls append data to a run (see the window above)."""
    endpoint.audit_window = RUN_DATA_AUDIT_WINDOW_SECONDS
    return endpoint


def short_transaction(endpoint: Any) -> Any:
    """Mark a synchronous route that is a few short database statements and waits on nothing else.

    On embedded SQLite, direct dispatch may run it on the event loop instead of the worker
    pool when the database is free at once (``storage.database.LoopWriter``), saving the hop
    between threads. Such a handler must not call the network, sleep, or wait on a lock.
    """
    endpoint.short_transaction = True
    return endpoint


def page_size(
    request: Request, limit: Annotated[int | None, Query(description="page size")] = None
) -> int:
    maximum = request.app.state.container.settings.max_page_size
    return clamp_page_size(limit, default=50, maximum=maximum)


PageSize = Annotated[int, Depends(page_size)]
Cursor = Annotated[str | None, Query(description="opaque cursor from the previous page")]
