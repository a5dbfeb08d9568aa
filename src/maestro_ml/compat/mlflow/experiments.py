"""MLflow REST: experiments (``/api/2.0/mlflow/experiments/*``) over ``ExperimentService``.

MLflow's experiment "0" is the tenant's "Default" experiment, created on first use, so
``mlflow.start_run()`` without ``set_experiment`` works in every tenant.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from fastapi.responses import Response

from maestro_ml.api.deps import ContainerDep
from maestro_ml.auth.principal import Principal
from maestro_ml.domain.errors import InvalidInput
from maestro_ml.domain.pagination import decode_cursor, encode_cursor

from . import messages
from .common import API_2, MlflowBody, mlflow_require

router = APIRouter(tags=["mlflow"])

DEFAULT_EXPERIMENT_ID = "0"
MAX_EXPERIMENT_RESULTS = 50_000

Reader = Annotated[Principal, mlflow_require("experiments:read")]
Writer = Annotated[Principal, mlflow_require("experiments:write")]
Deleter = Annotated[Principal, mlflow_require("experiments:delete")]


def resolve_experiment_id(container: Any, principal: Principal, experiment_id: str) -> str:
    """Our id of an MLflow experiment id: "0" means the tenant's Default experiment."""
    if experiment_id == DEFAULT_EXPERIMENT_ID:
        # Only a caller who may create experiments brings the Default one into being.
        default = container.experiments.default_experiment(
            principal, create=principal.can("experiments:write")
        )
        return default.id  # type: ignore[no-any-return]
    return experiment_id


def view_of(body: Any, name: str) -> str:
    raw = body.string(name) or "ACTIVE_ONLY"
    view = messages.VIEW_TYPES.get(raw.upper())
    if view is None:
        raise InvalidInput(
            f"{name} must be one of {', '.join(messages.VIEW_TYPES)}, got {raw[:50]!r}",
            field=name,
        )
    return view


@router.post(f"{API_2}/experiments/create")
def create_experiment(body: MlflowBody, container: ContainerDep, principal: Writer) -> Response:
    tags = {t.get("key"): t.get("value") for t in body.objects("tags")}
    row = container.experiments.create_experiment(
        principal, name=body.string("name", required=True), tags=tags
    )
    body.created(row.id)
    return messages.respond({"experiment_id": row.id})


@router.get(f"{API_2}/experiments/get")
def get_experiment(body: MlflowBody, container: ContainerDep, principal: Reader) -> Response:
    ident = resolve_experiment_id(
        container, principal, body.string("experiment_id", required=True)
    )
    row = container.experiments.get_experiment(principal, ident)
    return messages.respond({"experiment": messages.experiment(row)})


@router.get(f"{API_2}/experiments/get-by-name")
def get_experiment_by_name(
    body: MlflowBody, container: ContainerDep, principal: Reader
) -> Response:
    row = container.experiments.get_experiment_by_name(
        principal, body.string("experiment_name", required=True)
    )
    return messages.respond({"experiment": messages.experiment(row)})


@router.get(f"{API_2}/experiments/search", operation_id="mlflow_search_experiments_get")
@router.post(f"{API_2}/experiments/search", operation_id="mlflow_search_experiments")
def search_experiments(body: MlflowBody, container: ContainerDep, principal: Reader) -> Response:
    limit = body.int64("max_results", default=1000)
    if not 1 <= limit <= MAX_EXPERIMENT_RESULTS:
        raise InvalidInput(
            f"max_results must be between 1 and {MAX_EXPERIMENT_RESULTS}", field="max_results"
        )
    offset = _offset(body.string("page_token"))
    rows, more = container.experiments.search_experiments(
        principal, filter=body.string("filter"), order_by=body.strings("order_by"),
        view=view_of(body, "view_type"), offset=offset, limit=limit,
    )
    answer: dict[str, Any] = {"experiments": [messages.experiment(row) for row in rows]}
    if more:
        answer["next_page_token"] = encode_cursor({"e": offset + limit})
    return messages.respond(answer)


@router.post(f"{API_2}/experiments/update")
def update_experiment(body: MlflowBody, container: ContainerDep, principal: Writer) -> Response:
    ident = resolve_experiment_id(
        container, principal, body.string("experiment_id", required=True)
    )
    new_name = body.string("new_name")
    if new_name is not None:
        container.experiments.update_experiment(principal, ident, {"name": new_name})
    return messages.respond()


@router.post(f"{API_2}/experiments/delete")
def delete_experiment(body: MlflowBody, container: ContainerDep, principal: Deleter) -> Response:
    ident = resolve_experiment_id(
        container, principal, body.string("experiment_id", required=True)
    )
    container.experiments.delete_experiment(principal, ident)
    return messages.respond()


@router.post(f"{API_2}/experiments/restore")
def restore_experiment(body: MlflowBody, container: ContainerDep, principal: Deleter) -> Response:
    ident = resolve_experiment_id(
        container, principal, body.string("experiment_id", required=True)
    )
    container.experiments.restore_experiment(principal, ident)
    return messages.respond()


@router.post(f"{API_2}/experiments/set-experiment-tag")
def set_experiment_tag(body: MlflowBody, container: ContainerDep, principal: Writer) -> Response:
    ident = resolve_experiment_id(
        container, principal, body.string("experiment_id", required=True)
    )
    container.experiments.set_experiment_tag(
        principal, ident, body.string("key", required=True), body.string("value", default="")
    )
    return messages.respond()


@router.post(f"{API_2}/experiments/delete-experiment-tag")
def delete_experiment_tag(
    body: MlflowBody, container: ContainerDep, principal: Writer
) -> Response:
    ident = resolve_experiment_id(
        container, principal, body.string("experiment_id", required=True)
    )
    container.experiments.delete_experiment_tag(principal, ident, body.string("key", required=True))
    return messages.respond()


def _offset(token: str | None) -> int:
    if not token:
        return 0
    offset = decode_cursor(token).get("e")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidInput("invalid page_token", field="page_token")
    return offset
