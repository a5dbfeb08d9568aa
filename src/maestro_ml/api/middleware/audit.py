"""Request ids and the audit trail, as one pure ASGI middleware.

Every request gets an ``X-Request-ID`` (the client's when it is sane, else a new one),
echoed on the response. After the response has been sent, the middleware decides whether
it is an audit event: a successful write (POST/PUT/PATCH/DELETE), a refused attempt
(401/403/429) or a server error on a write. Successful predictions and searches sent by
POST are not state changes and are skipped, so the serving hot path pays nothing but a
few dictionary look-ups.
Routes that append data to a run (metrics, params, dataset inputs, marked with
``deps.appends_run_data``) are recorded once per client, actor and path in their
``audit_window``: a training loop logging thousands of points leaves one event a minute
showing who wrote where, not one chained event per point. An event is submitted to the
audit service's group commit and awaited after the response has gone out (the client is
not kept waiting, and the request's cycle ends only once its event is durable); a failure
to write it is logged and never changes the response.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from maestro_ml.domain.audit import AuditRecord

log = logging.getLogger("maestro_ml.audit")

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DENIED_STATUSES = frozenset({401, 403, 429})
# Successful calls of these permissions use the platform without changing it; so do those
# of any ``*:read`` permission, which some searches (MLflow's, ours) take by POST.
NOT_STATE_CHANGES = frozenset({"predictions:create"})
SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{8,64}$")
MAX_CAPTURED_BODY = 64 * 1024
# A flood of throttled requests must not become a flood of audit writes: one 429 event per
# client, route and actor in this window is evidence enough.
THROTTLED_EVENT_WINDOW_SECONDS = 10.0
MAX_REMEMBERED_KEYS = 10_000


class AuditMiddleware:
    def __init__(
        self, app: ASGIApp, record: Callable[[AuditRecord], Future[None]],
        permission_of: Callable[[Any], str | None],
    ) -> None:
        self.app = app
        self.record = record
        self.permission_of = permission_of
        self._permissions: dict[int, str | None] = {}
        self._seen: dict[tuple[Any, ...], float] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        method = scope["method"]
        response: dict[str, Any] = {"status": 500, "body": None}

        async def audited_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                response["status"] = status = message["status"]
                headers = [*message.get("headers", ()), (b"x-request-id", request_id.encode())]
                message = {**message, "headers": headers}
                if status == 201 and method == "POST":  # the new object's id is in the body
                    response["body"] = bytearray()
            elif message["type"] == "http.response.body" and response["body"] is not None:
                captured = response["body"]
                if len(captured) + len(message.get("body", b"")) <= MAX_CAPTURED_BODY:
                    captured.extend(message.get("body", b""))
                else:
                    response["body"] = None
            await send(message)

        try:
            await self.app(scope, receive, audited_send)
        except Exception:
            await self._audit(scope, 500, None, request_id)
            raise
        await self._audit(scope, response["status"], response["body"], request_id)

    async def _audit(
        self, scope: Scope, status: int, body: bytearray | None, request_id: str
    ) -> None:
        method = scope["method"]
        route = scope.get("route")
        permission = self._permission(route)
        if status in DENIED_STATUSES:
            outcome = "denied"
        elif method not in WRITE_METHODS:
            return
        elif status >= 500:
            outcome = "error"
        elif status < 400 and _changes_state(permission):
            outcome = "success"
        else:  # a refused write (404, 409, 422 ...) changed nothing and denied nothing
            return
        if status == 429 and self._seen_within(scope, "throttled", THROTTLED_EVENT_WINDOW_SECONDS):
            return
        window = getattr(getattr(route, "endpoint", None), "audit_window", None)
        if outcome == "success" and window and self._seen_within(scope, "run data", window):
            return
        try:
            record = _record(scope, route, permission, outcome, status, body, request_id)
            await asyncio.wrap_future(self.record(record))
        except Exception:  # the audit trail must never break the response
            log.exception("could not write the audit event of request %s", request_id)

    def _seen_within(self, scope: Scope, kind: str, window: float) -> bool:
        """Whether this client, actor and path had an event of this kind within ``window``
        seconds; remembers this one otherwise."""
        principal = scope.get("state", {}).get("principal")
        client = scope.get("client")
        key = (kind, client[0] if client else None, scope.get("method"), scope.get("path"),
               principal.api_key_id or principal.user_id if principal else None)
        clock = time.monotonic()
        if clock - self._seen.get(key, float("-inf")) < window:
            return True
        if len(self._seen) > MAX_REMEMBERED_KEYS:
            self._seen.clear()
        self._seen[key] = clock
        return False

    def _permission(self, route: Any) -> str | None:
        if route is None:
            return None
        key = id(route)
        if key not in self._permissions:
            self._permissions[key] = self.permission_of(route)
        return self._permissions[key]


def _changes_state(permission: str | None) -> bool:
    """Whether a successful write-method call under ``permission`` is a state change."""
    return permission not in NOT_STATE_CHANGES and not (permission or "").endswith(":read")


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if SANE_REQUEST_ID.match(candidate):
                return candidate
            break
    return uuid.uuid4().hex


def _record(
    scope: Scope, route: Any, permission: str | None, outcome: str, status: int,
    body: bytearray | None, request_id: str,
) -> AuditRecord:
    state = scope.get("state", {})
    principal = state.get("principal")
    method = scope["method"]
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    template = template or scope.get("path", "")
    objects = dict(state.get("audit_object") or {})  # what a body named (MLflow API)
    objects.update((k, str(v)) for k, v in (scope.get("path_params") or {}).items())
    created = _created_id(body)
    if created:
        objects["id"] = created
    client = scope.get("client")
    headers = dict(scope.get("headers", ()))
    agent = headers.get(b"user-agent")
    return AuditRecord(
        tenant_id=principal.tenant_id if principal else None,
        actor_user_id=principal.user_id if principal else None,
        actor_email=principal.email if principal else state.get("audit_email"),
        actor_api_key_id=principal.api_key_id if principal else None,
        action=permission or f"{method} {template}",
        method=method, route=template[:255], object=objects,
        object_id=_object_id(objects), outcome=outcome, status_code=status,
        client_ip=client[0] if client else None, request_id=request_id,
        user_agent=agent.decode("latin-1")[:512] if agent else None,
        occurred_at=datetime.now(UTC),
    )


def _created_id(body: bytearray | None) -> str | None:
    if not body:
        return None
    try:
        value = orjson.loads(body).get("id")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _object_id(objects: dict[str, str]) -> str | None:
    """The most specific id: a created object's, else the last ``*id``-like path value."""
    if "id" in objects:
        return objects["id"][:128]
    ids = [v for k, v in objects.items() if k.endswith("id") or k.endswith("name")]
    chosen = ids[-1] if ids else next(reversed(objects.values()), None)
    return chosen[:128] if chosen else None
