"""Audit use cases: append an event to its tenant's chain, query, export and verify.

Appending is a small transaction of its own (lock the chain head, link, insert, advance
the head), so the log never depends on whether the audited change committed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from maestro_ml.auth.principal import Principal
from maestro_ml.domain.audit import (
    CHAINED_FIELDS,
    GENESIS,
    OUTCOMES,
    AuditFilter,
    AuditRecord,
    ChainReport,
    canonical_time,
    chain_of,
    link_hash,
    verify_chain,
)
from maestro_ml.domain.errors import InvalidInput

from .ports import UnitOfWorkFactory

log = logging.getLogger("maestro_ml.audit")

EXPORT_BATCH = 500


def event_fields(row: Any) -> dict[str, Any]:
    """An event as plain JSON-ready data (every chained field plus the links)."""
    data = {name: getattr(row, name) for name in CHAINED_FIELDS}
    data["occurred_at"] = canonical_time(row.occurred_at)
    data.update(id=row.id, prev_hash=row.prev_hash, hash=row.hash)
    return data


class AuditService:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    def record(self, record: AuditRecord) -> None:
        """Append one event to its chain, in its own transaction."""
        chain = chain_of(record.tenant_id)
        fields = {**asdict(record), "chain": chain, "object": dict(record.object or {})}
        with self._uow.system() as uow:
            head = uow.audit.lock_head(chain, GENESIS)
            fields["seq"] = head.last_seq + 1
            fields["prev_hash"] = head.last_hash
            fields["hash"] = link_hash(head.last_hash, fields)
            uow.audit.append(head, **fields)
            uow.commit()

    # -- reading (tenant admins, their own tenant) --------------------------------------
    def search(
        self, principal: Principal, where: AuditFilter, limit: int, cursor: str | None
    ) -> Any:
        _check(where)
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            return uow.audit.search(filters=uow.audit.filters(**asdict(where)),
                                    limit=limit, cursor=cursor)

    def export(self, principal: Principal, where: AuditFilter) -> Iterator[dict[str, Any]]:
        """Every matching event of the caller's tenant, oldest first, in batches."""
        _check(where)
        after = None
        while True:
            with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
                rows = uow.audit.oldest_first(
                    filters=uow.audit.filters(**asdict(where)), after=after, limit=EXPORT_BATCH
                )
                batch = [event_fields(row) for row in rows]
            yield from batch
            if len(rows) < EXPORT_BATCH:
                return
            after = (rows[-1].occurred_at, rows[-1].id)

    # -- operators (CLI): every chain -----------------------------------------------------
    def chain_events(self, chain: str) -> Iterator[dict[str, Any]]:
        with self._uow.system(write=False) as uow:
            for row in uow.audit.in_chain_order(chain):
                yield event_fields(row)

    def chains(self) -> list[str]:
        with self._uow.system(write=False) as uow:
            return list(uow.audit.chains())

    def verify(self, chain: str | None = None) -> list[ChainReport]:
        """Verify one chain (a tenant id or ``platform``) or every chain."""
        reports = []
        for name in [chain] if chain else self.chains():
            with self._uow.system(write=False) as uow:
                head = uow.audit.head(name)
                stored = (head.last_seq, head.last_hash) if head is not None else None
                events = (event_fields(row) for row in uow.audit.in_chain_order(name))
                reports.append(verify_chain(name, events, stored))
        return reports


def _check(where: AuditFilter) -> None:
    if where.outcome is not None and where.outcome not in OUTCOMES:
        raise InvalidInput(f"outcome must be one of: {', '.join(OUTCOMES)}")
    if where.since and where.until and where.since >= where.until:
        raise InvalidInput("'since' must be before 'until'")
