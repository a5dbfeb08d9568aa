"""Audit use cases: append an event to its tenant's chain, query, export and verify.

Appending is a transaction of its own (lock the chain head, link, insert, advance the
head), so the log never depends on whether the audited change committed. Events are
group-committed: one writer thread takes every event waiting in a bounded queue and
appends them in one transaction (heads locked once per chain, in chain order, so two
processes cannot deadlock), and each submitter's future resolves when its event is
durable. Under concurrent writes that is one commit for many events. The writer remembers
the head it wrote last: the next group of that chain is linked to it and written with a
compare-and-set of the head (on PostgreSQL one statement in autocommit, a single round
trip), falling back to the locked path when another process moved the head meanwhile. A
full queue makes ``submit`` write in the caller's thread instead (back-pressure, never a
dropped event); ``stop`` drains the queue.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import asdict, fields
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
    storable,
    verify_chain,
)
from maestro_ml.domain.errors import InvalidInput
from maestro_ml.observability.metrics import observe_audit_event

from .ports import UnitOfWorkFactory

log = logging.getLogger("maestro_ml.audit")

EXPORT_BATCH = 500
MAX_GROUP = 256
MAX_QUEUED = 10_000
_STOP = object()
GROUP_WINDOW_SECONDS = 0.005
RECORD_FIELDS = tuple(field.name for field in fields(AuditRecord))


def event_fields(row: Any) -> dict[str, Any]:
    """An event as plain JSON-ready data (every chained field plus the links)."""
    data = {name: getattr(row, name) for name in CHAINED_FIELDS}
    data["occurred_at"] = canonical_time(row.occurred_at)
    data.update(id=row.id, prev_hash=row.prev_hash, hash=row.hash)
    return data


class AuditService:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow
        self._queue: queue.Queue[Any] = queue.Queue(MAX_QUEUED)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stopped = False
        # {chain: (seq, hash)} as this process last wrote it: where the next event links.
        self._heads: dict[str, tuple[int, str]] = {}

    def record(self, record: AuditRecord) -> None:
        """Append one event to its chain; returns once it is committed."""
        self.submit(record).result()

    def submit(self, record: AuditRecord) -> Future[None]:
        """Queue an event for the next group commit; the future resolves once it is durable."""
        future: Future[None] = Future()
        if self._ensure_writer():
            try:
                self._queue.put_nowait((record, future))
                return future
            except queue.Full:
                pass
        self._write_alone(record, future)
        return future

    def flush(self) -> None:
        """Wait until every event submitted so far is committed (reads see them all)."""
        if self._thread is not None and self._thread.is_alive():
            marker: Future[None] = Future()
            self._queue.put((None, marker))
            marker.result()

    def start(self) -> None:
        self._stopped = False
        self._ensure_writer()

    def stop(self) -> None:
        """Drain the queue and stop the writer (process shutdown)."""
        with self._lock:
            thread, self._stopped = self._thread, True
            self._thread = None
        if thread is not None and thread.is_alive():
            self._queue.put((_STOP, None))
            thread.join(timeout=30)

    def _ensure_writer(self) -> bool:
        if self._thread is not None:
            return True
        with self._lock:
            if self._stopped:
                return False
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run_writer, name="audit-writer", daemon=True
                )
                self._thread.start()
        return True

    def _run_writer(self) -> None:
        while True:
            group = [self._queue.get()]
            deadline = time.monotonic() + GROUP_WINDOW_SECONDS
            while len(group) < MAX_GROUP:
                try:
                    group.append(self._queue.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    break
            events = [(rec, fut) for rec, fut in group if isinstance(rec, AuditRecord)]
            self._write_group(events)
            for rec, fut in group:
                if rec is None:
                    fut.set_result(None)  # a flush marker: everything before it is written
            if any(rec is _STOP for rec, _ in group):
                return

    def _write_group(self, events: list[tuple[AuditRecord, Future[None]]]) -> None:
        if not events:
            return
        try:
            self._append([rec for rec, _ in events])
        except Exception:  # one bad event must not take its group down with it
            for rec, fut in events:
                self._write_alone(rec, fut)
            return
        for rec, fut in events:
            fut.set_result(None)
            observe_audit_event(rec.outcome)

    def _write_alone(self, record: AuditRecord, future: Future[None]) -> None:
        try:
            self._append([record])
        except Exception as exc:
            log.exception("could not append an audit event")
            future.set_exception(exc)
            return
        future.set_result(None)
        observe_audit_event(record.outcome)

    def _append(self, records: list[AuditRecord]) -> None:
        """Append events to their chains in one transaction.

        Events of one chain whose head this process wrote last are linked to that head and
        written with a compare-and-set of it: one statement, no lock held. Otherwise (first
        event, several chains, or another writer moved the head) the heads are locked in
        chain order and read first.
        """
        chains = [chain_of(record.tenant_id) for record in records]
        chain = chains[0]
        known = self._heads.get(chain)
        if known is not None and chains.count(chain) == len(chains):
            events, heads = _linked(records, chains, {chain: known})
            with self._uow.system(autocommit=True) as uow:
                written = uow.audit.append_after_head(chain, *known, events)
                uow.commit()
            if written:
                self._heads[chain] = heads[chain]
                return
            self._heads.pop(chain, None)
        with self._uow.system() as uow:
            heads = {chain: uow.audit.lock_chain(chain, GENESIS) for chain in sorted(set(chains))}
            events, heads = _linked(records, chains, heads)
            uow.audit.append_events(events)
            for chain, (seq, last_hash) in heads.items():
                uow.audit.advance_head(chain, seq, last_hash)
            uow.commit()
        self._heads.update(heads)

    # -- reading (tenant admins, their own tenant) --------------------------------------
    def search(
        self, principal: Principal, where: AuditFilter, limit: int, cursor: str | None
    ) -> Any:
        _check(where)
        self.flush()
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            return uow.audit.search(filters=uow.audit.filters(**asdict(where)),
                                    limit=limit, cursor=cursor)

    def export(self, principal: Principal, where: AuditFilter) -> Iterator[dict[str, Any]]:
        """Every matching event of the caller's tenant, oldest first, in batches."""
        _check(where)
        self.flush()
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
        self.flush()
        with self._uow.system(write=False) as uow:
            for row in uow.audit.in_chain_order(chain):
                yield event_fields(row)

    def chains(self) -> list[str]:
        self.flush()
        with self._uow.system(write=False) as uow:
            return list(uow.audit.chains())

    def verify(self, chain: str | None = None) -> list[ChainReport]:
        """Verify one chain (a tenant id or ``platform``) or every chain."""
        self.flush()
        reports = []
        for name in [chain] if chain else self.chains():
            with self._uow.system(write=False) as uow:
                head = uow.audit.head(name)
                stored = (head.last_seq, head.last_hash) if head is not None else None
                events = (event_fields(row) for row in uow.audit.in_chain_order(name))
                reports.append(verify_chain(name, events, stored))
        return reports


def _linked(records: list[AuditRecord], chains: list[str], heads: dict[str, tuple[int, str]]
            ) -> tuple[list[dict[str, Any]], dict[str, tuple[int, str]]]:
    """The records as events linked after ``heads`` ({chain: (seq, hash)}), and the heads
    after them."""
    heads, events = dict(heads), []
    for record, chain in zip(records, chains, strict=True):
        seq, prev_hash = heads[chain]
        event = {name: storable(getattr(record, name)) for name in RECORD_FIELDS}
        event.update(chain=chain, object=storable(dict(record.object or {})), seq=seq + 1,
                     prev_hash=prev_hash)
        event["hash"] = link_hash(prev_hash, event)
        heads[chain] = (seq + 1, event["hash"])
        events.append(event)
    return events, heads


def _check(where: AuditFilter) -> None:
    if where.outcome is not None and where.outcome not in OUTCOMES:
        raise InvalidInput(f"outcome must be one of: {', '.join(OUTCOMES)}")
    if where.since and where.until and where.since >= where.until:
        raise InvalidInput("'since' must be before 'until'")
