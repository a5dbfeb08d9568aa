"""The audit log of the caller's tenant: filtered pages and a JSON-lines export."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from maestro_ml.auth.principal import Principal
from maestro_ml.domain.audit import AuditFilter
from maestro_ml.domain.errors import InvalidInput

from ..deps import ContainerDep, Cursor, PageSize, require
from ..schemas.audit import AuditEventRead
from ..schemas.common import Page, page_of

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


def audit_filter(
    actor: Annotated[str | None, Query(max_length=320, description="user id, email or key id")]
    = None,
    action: Annotated[str | None, Query(max_length=160, description="e.g. models:write")] = None,
    outcome: Annotated[str | None, Query(description="success | denied | error")] = None,
    since: Annotated[datetime | None, Query(description="ISO-8601, inclusive")] = None,
    until: Annotated[datetime | None, Query(description="ISO-8601, exclusive")] = None,
    object_id: Annotated[str | None, Query(max_length=128)] = None,
    request_id: Annotated[str | None, Query(
        max_length=64, description="the X-Request-ID a response carried")] = None,
) -> AuditFilter:
    return AuditFilter(actor=actor, action=action, outcome=outcome,
                       since=_in_utc("since", since), until=_in_utc("until", until),
                       object_id=object_id, request_id=request_id)


def _in_utc(name: str, value: datetime | None) -> datetime | None:
    """``value`` as an aware UTC time (a time without an offset is taken as UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before the first representable instant
        raise InvalidInput(f"'{name}' must be a time between the years 1 and 9999 in UTC",
                           field=name) from None


Filters = Annotated[AuditFilter, Depends(audit_filter)]


@router.get("", response_model=Page[AuditEventRead])
def list_audit_events(
    container: ContainerDep, principal: Annotated[Principal, require("audit:read")],
    where: Filters, limit: PageSize, cursor: Cursor = None,
) -> dict[str, Any]:
    """Newest first."""
    return page_of(AuditEventRead, container.audit.search(principal, where, limit, cursor))


@router.get("/export", response_class=StreamingResponse)
def export_audit_events(
    container: ContainerDep, principal: Annotated[Principal, require("audit:read")],
    where: Filters,
) -> StreamingResponse:
    """Every matching event, oldest first, one JSON object per line."""
    events = container.audit.export(principal, where)
    first = next(events, None)  # bad filters fail here, as a 422, before streaming starts

    def lines() -> Iterator[bytes]:
        if first is None:
            return
        yield orjson.dumps(first) + b"\n"
        for event in events:
            yield orjson.dumps(event) + b"\n"

    return StreamingResponse(
        lines(), media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="audit.jsonl"'},
    )
