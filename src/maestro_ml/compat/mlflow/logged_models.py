"""MLflow REST: MLflow 3 logged models (``/api/2.0/mlflow/logged-models*``).

``mlflow.<flavor>.log_model`` creates one (PENDING), uploads its files through the artifact
proxy to ``mlflow-artifacts:/<experiment>/models/<model id>/artifacts``, then finalizes it
(READY); ``register_model`` / ``create_model_version`` with ``models:/<model id>`` turns
it into a registry version. Logged models are outputs of runs, so they take the runs'
permissions (``runs:read`` / ``runs:write`` / ``runs:delete``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from maestro_ml.api.deps import ContainerDep
from maestro_ml.auth.principal import Principal
from maestro_ml.domain.errors import InvalidInput
from maestro_ml.services.logged_models import DatasetFilter, LoggedModelView, ModelOrder

from . import registry_filters as filters
from . import registry_shapes as shapes
from .artifact_paths import logged_model_artifact_uri, resolve, strip_scheme
from .common import (
    API_2,
    MlflowBody,
    MlflowRequest,
    mlflow_require,
    model_id_of,
    ok,
    parse_int64,
)
from .experiments import resolve_experiment_id

router = APIRouter(tags=["mlflow"])

Reader = Annotated[Principal, mlflow_require("runs:read")]
Writer = Annotated[Principal, mlflow_require("runs:write")]
Deleter = Annotated[Principal, mlflow_require("runs:delete")]

LOGGED = f"{API_2}/logged-models"
MAX_RESULTS = 1000
_ORDER_FIELDS = {"name": "name", "creation_timestamp": "created_at",
                 "creation_time": "created_at", "last_updated_timestamp": "updated_at"}


def _answer(view: LoggedModelView) -> JSONResponse:
    return ok({"model": shapes.logged_model(view)})


def files_key(view: LoggedModelView) -> str:
    """The tenant store key of a logged model's files (its artifact location, resolved)."""
    return resolve(strip_scheme(view.artifact_location)).key


@router.post(LOGGED)
def create_logged_model(
    body: MlflowBody, container: ContainerDep, principal: Writer
) -> JSONResponse:
    experiment_id = resolve_experiment_id(
        container, principal, body.string("experiment_id", required=True)
    )
    view = container.logged_models.create(
        principal, experiment_id, body.string("name"), location_of=logged_model_artifact_uri,
        source_run_id=body.string("source_run_id"), model_type=body.string("model_type"),
        tags=shapes.tag_map(body), params=shapes.tag_map(body, "params"),
    )
    body.created(view.id)
    return _answer(view)


@router.post(f"{API_2}/runs/outputs")
def log_run_outputs(body: MlflowBody, container: ContainerDep, principal: Writer) -> JSONResponse:
    """``log_model`` declaring the logged models a run produced; each must be the tenant's."""
    outputs = [
        (model_id_of(item),
         None if item.get("step") is None else parse_int64(item["step"], "models.step"))
        for item in body.objects("models")
    ]
    container.logged_models.link_run(principal, body.run_id(), outputs)
    return ok()



@router.post(f"{LOGGED}/search")
def search_logged_models(
    body: MlflowBody, container: ContainerDep, principal: Reader
) -> JSONResponse:
    experiment_ids = [resolve_experiment_id(container, principal, ident)
                      for ident in body.strings("experiment_ids")]
    if not experiment_ids:
        raise InvalidInput("experiment_ids: name at least one experiment",
                           field="experiment_ids")
    limit = body.int64("max_results", default=100)
    if not 1 <= limit <= MAX_RESULTS:
        raise InvalidInput(f"max_results must be between 1 and {MAX_RESULTS}",
                           field="max_results")
    page = container.logged_models.search(
        principal, experiment_ids=experiment_ids,
        predicate=filters.compile_filter(body.string("filter"),
                                         filters.LOGGED_MODEL_ATTRIBUTES, metrics=True),
        order=_order(body), limit=int(limit), page_token=body.string("page_token"),
        datasets=[_dataset(item, "datasets") for item in body.objects("datasets")],
    )
    answer: dict[str, Any] = {"models": [shapes.logged_model(v) for v in page.items]}
    if page.next_page_token:
        answer["next_page_token"] = page.next_page_token
    return ok(answer)


def _order(body: MlflowRequest) -> list[ModelOrder]:
    order: list[ModelOrder] = []
    for item in body.objects("order_by"):
        field = item.get("field_name")
        ascending = item.get("ascending", True) is not False
        metric = field.removeprefix("metrics.") if isinstance(field, str) else ""
        if metric and metric != field:
            dataset = _dataset(item, "order_by") if item.get("dataset_name") else None
            order.append(ModelOrder("metric", ascending, metric, dataset))
            continue
        if field not in _ORDER_FIELDS:
            raise InvalidInput(
                f"order_by: cannot order logged models by {str(field)[:100]!r}; use one of "
                f"{', '.join(_ORDER_FIELDS)} or metrics.<key>", field="order_by",
            )
        order.append(ModelOrder(_ORDER_FIELDS[field], ascending))
    return order or [ModelOrder("created_at", ascending=False)]


def _dataset(item: dict[str, Any], field: str) -> DatasetFilter:
    """``{"dataset_name": ..., "dataset_digest": ...}``; the name is required, as in MLflow."""
    name, digest = item.get("dataset_name"), item.get("dataset_digest")
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"{field}: dataset_name must be given", field=field)
    if digest is not None and not isinstance(digest, str):
        raise InvalidInput(f"{field}: dataset_digest must be a string", field=field)
    return DatasetFilter(name, digest or None)


@router.get(f"{LOGGED}/{{model_id}}")
def get_logged_model(model_id: str, container: ContainerDep, principal: Reader) -> JSONResponse:
    return _answer(container.logged_models.get(principal, model_id))


@router.patch(f"{LOGGED}/{{model_id}}")
def finalize_logged_model(
    model_id: str, body: MlflowBody, container: ContainerDep, principal: Writer
) -> JSONResponse:
    return _answer(container.logged_models.finalize(principal, model_id, body.string("status")))


@router.delete(f"{LOGGED}/{{model_id}}")
def delete_logged_model(
    model_id: str, container: ContainerDep, principal: Deleter
) -> JSONResponse:
    container.logged_models.delete(principal, model_id, files_key)
    return ok()


@router.patch(f"{LOGGED}/{{model_id}}/tags")
def set_logged_model_tags(
    model_id: str, body: MlflowBody, container: ContainerDep, principal: Writer
) -> JSONResponse:
    return _answer(container.logged_models.set_tags(principal, model_id, shapes.tag_map(body)))


@router.delete(f"{LOGGED}/{{model_id}}/tags/{{key}}")
def delete_logged_model_tag(
    model_id: str, key: str, container: ContainerDep, principal: Writer
) -> JSONResponse:
    container.logged_models.delete_tag(principal, model_id, key)
    return ok()


@router.post(f"{LOGGED}/{{model_id}}/params")
def log_logged_model_params(
    model_id: str, body: MlflowBody, container: ContainerDep, principal: Writer
) -> JSONResponse:
    container.logged_models.log_params(principal, model_id, shapes.tag_map(body, "params"))
    return ok()
