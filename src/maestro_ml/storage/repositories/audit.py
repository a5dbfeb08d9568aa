"""The audit log repository: append to a chain, read and filter. No update, no delete.

``lock_head`` is the one serialisation point: PostgreSQL locks the chain's head row
(``SELECT ... FOR UPDATE``) until commit; SQLite's write transaction (``BEGIN IMMEDIATE``)
already admits a single writer, and SQLAlchemy omits ``FOR UPDATE`` there.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from functools import cache
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    bindparam,
    cast,
    exists,
    func,
    insert,
    literal_column,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from ..tables import AuditEventRow, AuditHeadRow
from ..tables.base import new_id
from .base import Page, Repository

_HEADS = AuditHeadRow.__table__
_EVENTS = AuditEventRow.__table__
# The append path's statements, built once so that they are compiled once.
_CREATE_HEAD = {
    name: module.insert(_HEADS).on_conflict_do_nothing(index_elements=["chain"])
    for name, module in (("sqlite", sqlite), ("postgresql", postgresql))
}
_HEAD_FOR_UPDATE = (
    select(_HEADS.c.last_seq, _HEADS.c.last_hash)
    .where(_HEADS.c.chain == bindparam("chain"))
    .with_for_update()
)
_ADVANCE_HEAD = (
    update(_HEADS)
    .where(_HEADS.c.chain == bindparam("head_chain"))
    .values(last_seq=bindparam("head_seq"), last_hash=bindparam("head_hash"))
)
_INSERT_EVENTS = insert(_EVENTS)
_ADVANCE_HEAD_FROM = (  # a compare-and-set: only from the head the writer linked to
    update(_HEADS)
    .where(_HEADS.c.chain == bindparam("head_chain"),
           _HEADS.c.last_seq == bindparam("old_seq"),
           _HEADS.c.last_hash == bindparam("old_hash"))
    .values(last_seq=bindparam("new_seq"), last_hash=bindparam("new_hash"))
)


@cache  # built on first use: SQLite deployments never need it
def _pg_append_after_head() -> Any:
    """``WITH head AS (UPDATE the head if it is still (seq, hash)), INSERT the events if it
    was, SELECT count(*) FROM head``: a compare-and-set of the chain's head and the events
    behind it, one statement and so one transaction. The events travel as one JSON array
    that ``json_populate_recordset`` turns into rows of the table's own type."""
    head = _ADVANCE_HEAD_FROM.returning(_HEADS.c.chain).cte("head")
    names = [column.name for column in _EVENTS.columns]
    rows = func.json_populate_recordset(
        literal_column(f"NULL::{_EVENTS.name}"), cast(bindparam("events"), JSON)
    ).table_valued(*names)
    events = (
        insert(_EVENTS)
        .from_select(names, select(*[rows.c[name] for name in names])
                     .where(exists(select(head.c.chain))))
        .cte("events")
    )
    return select(func.count()).select_from(head).add_cte(events)


class AuditRepository(Repository[AuditEventRow]):
    row = AuditEventRow
    kind = "audit event"

    def lock_head(self, chain: str, genesis: str) -> AuditHeadRow:
        """The chain's head, created at seq 0 when missing, locked until commit."""
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        self.session.execute(
            insert(AuditHeadRow)
            .values(chain=chain, last_seq=0, last_hash=genesis)
            .on_conflict_do_nothing(index_elements=["chain"])
        )
        stmt = select(AuditHeadRow).where(AuditHeadRow.chain == chain).with_for_update()
        return self.session.scalars(stmt.execution_options(populate_existing=True)).one()

    def lock_chain(self, chain: str, genesis: str) -> tuple[int, str]:
        """(last seq, last hash) of the chain, its head created when missing and locked
        until commit: ``lock_head`` in Core statements on the connection, for the
        group-commit path (one statement once the chain exists)."""
        connection = self.session.connection()
        found = connection.execute(_HEAD_FOR_UPDATE, {"chain": chain}).first()
        if found is None:
            dialect = connection.dialect.name
            connection.execute(
                _CREATE_HEAD[dialect], {"chain": chain, "last_seq": 0, "last_hash": genesis}
            )
            found = connection.execute(_HEAD_FOR_UPDATE, {"chain": chain}).one()
        return int(found[0]), str(found[1])

    def append_after_head(self, chain: str, seq: int, last_hash: str,
                          events: Sequence[dict[str, Any]]) -> bool:
        """Insert ``events`` (the next links of ``chain``, every column but ``id``) and
        advance the head past them, only if the head is still at ``seq`` and ``last_hash``.
        False, with nothing written, when another writer moved it. No lock is held in
        between: on PostgreSQL it is one statement, the whole transaction on a connection
        in autocommit (one round trip); on SQLite, two in the caller's write transaction."""
        last = events[-1]
        values = {"head_chain": chain, "old_seq": seq, "old_hash": last_hash,
                  "new_seq": last["seq"], "new_hash": last["hash"]}
        connection = self.session.connection()
        if connection.dialect.name != "postgresql":  # one writer at a time: two statements
            if not connection.execute(_ADVANCE_HEAD_FROM, values).rowcount:
                return False
            connection.execute(_INSERT_EVENTS, list(events))
            return True
        values["events"] = orjson.dumps([{**event, "id": new_id()} for event in events]).decode()
        return bool(connection.execute(_pg_append_after_head(), values).scalar())

    def append_events(self, events: Sequence[dict[str, Any]]) -> None:
        """Insert linked events (every column but ``id``, which is generated)."""
        if events:
            self.session.connection().execute(_INSERT_EVENTS, list(events))

    def advance_head(self, chain: str, seq: int, last_hash: str) -> None:
        self.session.connection().execute(
            _ADVANCE_HEAD, {"head_chain": chain, "head_seq": seq, "head_hash": last_hash}
        )

    def append(self, head: AuditHeadRow, **fields: Any) -> AuditEventRow:
        event = AuditEventRow(**fields)
        self.session.add(event)
        head.last_seq, head.last_hash = event.seq, event.hash
        return event

    def head(self, chain: str) -> AuditHeadRow | None:
        return self.session.get(AuditHeadRow, chain)

    def chains(self) -> list[str]:
        heads = select(AuditHeadRow.chain)
        events = select(AuditEventRow.chain).distinct()
        return sorted(set(self.session.scalars(heads)) | set(self.session.scalars(events)))

    def create(self, **fields: Any) -> AuditEventRow:
        raise TypeError("audit events are appended with append(head, ...)")

    def delete(self, obj: AuditEventRow) -> None:
        raise TypeError("audit events are append-only")

    def in_chain_order(self, chain: str, batch: int = 1000) -> Iterator[AuditEventRow]:
        """Every event of a chain by seq, read in batches (chains can be long)."""
        after = 0
        while True:
            stmt = (
                select(AuditEventRow)
                .where(AuditEventRow.chain == chain, AuditEventRow.seq > after)
                .order_by(AuditEventRow.seq).limit(batch)
            )
            rows = list(self.session.scalars(stmt))
            yield from rows
            if len(rows) < batch:
                return
            after = rows[-1].seq
            self.session.expunge_all()

    def search(
        self, *, filters: Sequence[Any], limit: int, cursor: str | None
    ) -> Page[AuditEventRow]:
        return self.list(limit=limit, cursor=cursor, where=filters)

    def oldest_first(
        self, *, filters: Sequence[Any], after: tuple[datetime, str] | None, limit: int
    ) -> list[AuditEventRow]:
        stmt = select(AuditEventRow).where(*filters)
        if after is not None:
            stmt = stmt.where(
                tuple_(AuditEventRow.occurred_at, AuditEventRow.id) > tuple_(*after)
            )
        stmt = stmt.order_by(AuditEventRow.occurred_at, AuditEventRow.id).limit(limit)
        return list(self.session.scalars(stmt))

    @staticmethod
    def filters(
        *, actor: str | None = None, action: str | None = None, outcome: str | None = None,
        since: datetime | None = None, until: datetime | None = None,
        object_id: str | None = None, request_id: str | None = None,
    ) -> list[Any]:
        """Column conditions for the query API; ``actor`` matches a user id, email or key id."""
        row, where = AuditEventRow, []
        if actor:
            where.append(
                (row.actor_user_id == actor) | (row.actor_email == actor.lower())
                | (row.actor_api_key_id == actor)
            )
        if action:
            where.append(row.action == action)
        if outcome:
            where.append(row.outcome == outcome)
        if since is not None:
            where.append(row.occurred_at >= since)
        if until is not None:
            where.append(row.occurred_at < until)
        if object_id:
            where.append(row.object_id == object_id)
        if request_id:
            where.append(row.request_id == request_id)
        return where
