"""Searching registered models and model versions with a caller-supplied predicate.

The MLflow registry filter language (``name LIKE '%churn%' AND tags.team = 'x'``) is parsed
by its protocol layer; here it arrives as a predicate over plain facts (a dict of attribute
values with a ``tags`` dict). Rows are read in the requested order in bounded chunks and
tested one by one, so a page never loads more than a few chunks whatever the registry's
size; the page token is the position in that order where the next page starts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from maestro_ml.auth.principal import Principal
from maestro_ml.domain.errors import InvalidInput
from maestro_ml.domain.pagination import decode_cursor, encode_cursor

from .ports import UnitOfWorkFactory
from .registry_views import ModelView, NamedVersionView, RegisteredModelView, VersionView

Facts = dict[str, Any]
Predicate = Callable[[Facts], bool]
CHUNK_ROWS = 500
MAX_SCANNED_ROWS = 100_000


@dataclass(frozen=True)
class SearchPage:
    items: list[Any]
    next_page_token: str | None


def offset_of(page_token: str | None) -> int:
    if not page_token:
        return 0
    try:
        offset = int(decode_cursor(page_token)["o"])
    except (KeyError, TypeError, ValueError, InvalidInput):
        raise InvalidInput("invalid page_token: pass the next_page_token of a previous "
                           "answer", field="page_token") from None
    if offset < 0:
        raise InvalidInput("invalid page_token", field="page_token")
    return offset


def scan(
    fetch: Callable[[int, int], Sequence[Any]], predicate: Callable[[Any], bool],
    offset: int, limit: int,
) -> tuple[list[Any], str | None]:
    """Up to ``limit`` rows passing ``predicate`` from ``offset`` on, and the next token."""
    found: list[Any] = []
    position = offset
    while position - offset < MAX_SCANNED_ROWS:
        rows = fetch(position, CHUNK_ROWS)
        for index, row in enumerate(rows):
            if not predicate(row):
                continue
            if len(found) == limit:
                return found, encode_cursor({"o": position + index})
            found.append(row)
        position += len(rows)
        if len(rows) < CHUNK_ROWS:
            return found, None
    # A filter that matches almost nothing in a huge registry: hand back what was found
    # and let the client continue from here rather than scanning without bound.
    return found, encode_cursor({"o": position})


class RegistrySearch:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    def search_models(
        self, principal: Principal, *, predicate: Predicate, order: Sequence[tuple[str, bool]],
        limit: int, page_token: str | None = None, name_like: str | None = None,
    ) -> SearchPage:
        """Models whose facts ``{"name", "tags"}`` pass ``predicate``, with latest versions.

        ``order`` is ``[(field, ascending)]`` over ``name``, ``created_at``, ``updated_at``;
        ``name_like`` (a SQL LIKE pattern) narrows the rows read before the predicate.
        """
        columns = list(order)
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            rows, token = scan(
                lambda at, n: uow.models.chunk(order=columns, offset=at, limit=n,
                                               name_like=name_like),
                lambda row: predicate({"name": row.name, "tags": dict(row.tags or {})}),
                offset_of(page_token), limit,
            )
            return SearchPage([self._registered(uow, row) for row in rows], token)

    def search_versions(
        self, principal: Principal, *, predicate: Predicate, order: Sequence[tuple[str, bool]],
        limit: int, page_token: str | None = None, model_name: str | None = None,
    ) -> SearchPage:
        """Versions whose facts (``name``, ``version``, ``run_id``, ``source``, ``stage``,
        ``tags``...) pass ``predicate``; ``model_name`` narrows them to one model."""
        columns = list(order)
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            model_id = None
            if model_name is not None:
                model = uow.models.find_by_name(model_name)
                if model is None:
                    return SearchPage([], None)
                model_id = model.id
            names: dict[str, str] = {}

            def fetch(at: int, n: int) -> list[Any]:
                rows = uow.model_versions.chunk(order=columns, offset=at, limit=n,
                                                model_id=model_id)
                names.update(uow.models.names_by_id({r.model_id for r in rows} - set(names)))
                return rows

            rows, token = scan(
                fetch, lambda row: predicate(_version_facts(names[row.model_id], row)),
                offset_of(page_token), limit,
            )
            aliases: dict[str, dict[str, list[str]]] = {}
            items = []
            for row in rows:
                if row.model_id not in aliases:
                    aliases[row.model_id] = uow.model_versions.aliases_by_version(row.model_id)
                view = VersionView.of(row, aliases[row.model_id].get(row.id, []))
                items.append(NamedVersionView(names[row.model_id], view))
            return SearchPage(items, token)

    def registered_model(self, principal: Principal, model_id: str) -> RegisteredModelView:
        with self._uow.for_tenant(principal.tenant_id, write=False) as uow:
            return self._registered(uow, uow.models.get(model_id))

    @staticmethod
    def _registered(uow: Any, model: Any) -> RegisteredModelView:
        versions = uow.model_versions.all_of_model(model.id)
        latest = uow.model_versions.latest_numbers([model.id]).get(model.id)
        aliases = uow.model_versions.aliases_of_models([model.id])[model.id]
        by_version = uow.model_versions.aliases_by_version(model.id)
        newest: dict[str, Any] = {}
        for row in versions:
            newest[row.stage] = row
        latest_views = [VersionView.of(row, by_version.get(row.id, []))
                        for row in sorted(newest.values(), key=lambda r: r.version)]
        return RegisteredModelView(ModelView.of(model, latest, aliases), latest_views,
                                   model.created_by)


def _version_facts(model_name: str, row: Any) -> Facts:
    return {
        "name": model_name, "version": row.version, "version_number": row.version,
        "run_id": row.source_run_id or row.run_id, "source": row.source or "",
        "source_path": row.source or "", "stage": row.stage, "current_stage": row.stage,
        "model_id": row.logged_model_id or "", "tags": dict(row.tags or {}),
    }
