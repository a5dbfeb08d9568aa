"""Repository of run artifacts: one row per (run, canonical path) with its size and sha256."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from maestro_ml.domain.errors import InvalidInput, NotFound
from maestro_ml.domain.pagination import decode_cursor, encode_cursor

from ..tables import ArtifactRow, new_id, utcnow
from .base import Page, Repository


class ArtifactRepository(Repository[ArtifactRow]):
    row = ArtifactRow
    kind = "artifact"

    def record(self, run_id: str, path: str, size_bytes: int, sha256: str) -> ArtifactRow:
        """Insert or replace the row of ``path`` (a re-upload replaces the object).

        An upsert, so two concurrent uploads of one path both succeed (the last one wins).
        """
        tenant_id = self.session.info["tenant_id"]
        table = ArtifactRow.__table__
        module = postgresql if self.session.get_bind().dialect.name == "postgresql" else sqlite
        now = utcnow()
        stmt = module.insert(table).values(
            id=new_id(), tenant_id=tenant_id, run_id=run_id, path=path, size_bytes=size_bytes,
            sha256=sha256, created_at=now,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.run_id, table.c.path],
            set_={"size_bytes": size_bytes, "sha256": sha256, "created_at": now},
        )
        self.session.execute(stmt)
        return self.get_path(run_id, path)

    def find_path(self, run_id: str, path: str) -> ArtifactRow | None:
        stmt = select(ArtifactRow).where(ArtifactRow.run_id == run_id, ArtifactRow.path == path)
        # populate_existing: a row this session already holds may predate an upsert.
        return self.session.scalars(stmt.execution_options(populate_existing=True)).first()

    def get_path(self, run_id: str, path: str) -> ArtifactRow:
        found = self.find_path(run_id, path)
        if found is None:
            raise NotFound(f"artifact '{path}' does not exist", kind=self.kind)
        return found

    def list_for_run(
        self, run_id: str, *, prefix: str | None, limit: int, cursor: str | None
    ) -> Page[ArtifactRow]:
        """By path, keyset-paginated on the path."""
        stmt = select(ArtifactRow).where(ArtifactRow.run_id == run_id)
        if prefix:
            stmt = stmt.where(ArtifactRow.path.startswith(prefix, autoescape=True))
        if cursor:
            after = decode_cursor(cursor).get("p")
            if not isinstance(after, str):
                raise InvalidInput("invalid page token")
            stmt = stmt.where(ArtifactRow.path > after)
        stmt = stmt.order_by(ArtifactRow.path).limit(limit + 1)
        rows: list[Any] = list(self.session.scalars(stmt))
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            next_cursor = encode_cursor({"p": rows[-1].path})
        return Page(rows, next_cursor)

    def delete_under(self, run_id: str, path: str) -> int:
        """Delete the row of ``path`` and of every path under it ("" is the whole run)."""
        stmt = delete(ArtifactRow).where(ArtifactRow.run_id == run_id)
        if path:
            stmt = stmt.where(
                or_(ArtifactRow.path == path,
                    ArtifactRow.path.startswith(f"{path}/", autoescape=True))
            )
        return int(self.session.execute(stmt.execution_options(synchronize_session=False)).rowcount)
