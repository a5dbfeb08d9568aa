"""MLflow REST: runs and metrics (``/api/2.0/mlflow/runs/*``, ``metrics/*``).

Runs map onto Maestro runs through ``RunService`` and ``RunDataService``; the parent of a
nested run comes from the tag ``mlflow.parentRunId`` and the run's name is mirrored in the
tag ``mlflow.runName``, as MLflow's own server does. Handlers are plain functions because
every one of them is a database transaction: the bounded ones are ``short_transaction`` (on
embedded SQLite they may run on the event loop), search and history run in the thread pool.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from fastapi.responses import Response

from maestro_ml.api.deps import ContainerDep, appends_run_data, short_transaction
from maestro_ml.auth.principal import Principal
from maestro_ml.domain.errors import InvalidInput
from maestro_ml.domain.tracking import generated_name
from maestro_ml.services.run_data import LINK_FIELDS, model_link

from . import messages
from .common import (
    API_2,
    MlflowBody,
    MlflowRequest,
    mlflow_require,
    model_id_of,
    parse_double,
    parse_int64,
)
from .experiments import resolve_experiment_id, view_of

router = APIRouter(tags=["mlflow"])

MAX_RUN_RESULTS = 50_000
MAX_HISTORY_RESULTS = 25_000

Reader = Annotated[Principal, mlflow_require("runs:read")]
Writer = Annotated[Principal, mlflow_require("runs:write")]
Deleter = Annotated[Principal, mlflow_require("runs:delete")]


@router.post(f"{API_2}/runs/create")
@short_transaction
def create_run(body: MlflowBody, container: ContainerDep, principal: Writer) -> Response:
    experiment_id = resolve_experiment_id(
        container, principal, body.string("experiment_id") or "0"
    )
    tags = _tags(body)
    name = body.string("run_name") or tags.get(messages.RUN_NAME_TAG) or generated_name("run")
    tags[messages.RUN_NAME_TAG] = name  # mirrored as MLflow's server does
    details = container.runs.create_run(
        principal, experiment_id=experiment_id, name=name,
        parent_run_id=tags.get(messages.PARENT_RUN_TAG), tags=tags,
        start_time=body.int64("start_time"),
    )
    body.created(details.id)
    return messages.respond({"run": messages.run(details)})


@router.get(f"{API_2}/runs/get")
@short_transaction
def get_run(body: MlflowBody, container: ContainerDep, principal: Reader) -> Response:
    details = container.runs.get_run(principal, body.run_id())
    return messages.respond({"run": messages.run(details)})


@router.post(f"{API_2}/runs/update")
@short_transaction
def update_run(body: MlflowBody, container: ContainerDep, principal: Writer) -> Response:
    run_id = body.run_id()
    name = body.string("run_name") or None
    details = container.runs.update_run(
        principal, run_id, status=body.string("status"), end_time=body.int64("end_time"),
        name=name, with_data=False,
    )
    if name is not None:
        container.run_data.set_tag(principal, run_id, messages.RUN_NAME_TAG, details.name)
    return messages.respond({"run_info": messages.run_info(details)})


@router.post(f"{API_2}/runs/delete")
@short_transaction
def delete_run(body: MlflowBody, container: ContainerDep, principal: Deleter) -> Response:
    container.runs.delete_run(principal, body.run_id())
    return messages.respond()


@router.post(f"{API_2}/runs/restore")
@short_transaction
def restore_run(body: MlflowBody, container: ContainerDep, principal: Deleter) -> Response:
    container.runs.restore_run(principal, body.run_id())
    return messages.respond()


@router.post(f"{API_2}/runs/log-metric")
@short_transaction
@appends_run_data
def log_metric(body: MlflowBody, container: ContainerDep, principal: Writer) -> Response:
    container.run_data.log_metric(
        principal, body.run_id(), body.string("key", required=True),
        body.number("value", required=True), step=body.int64("step", default=0),
        timestamp=body.int64("timestamp"), link=model_link(body.data),
    )
    return messages.respond()


@router.post(f"{API_2}/runs/log-parameter")
@short_transaction
@appends_run_data
def log_parameter(body: MlflowBody, container: ContainerDep, principal: Writer) -> Response:
    container.run_data.log_param(
        principal, body.run_id(), body.string("key", required=True),
        body.string("value", default=""),
    )
    return messages.respond()


@router.post(f"{API_2}/runs/set-tag")
@short_transaction
def set_tag(body: MlflowBody, container: ContainerDep, principal: Writer) -> Response:
    run_id, key = body.run_id(), body.string("key", required=True)
    value = body.string("value", default="")
    container.run_data.set_tag(principal, run_id, key, value)
    if key == messages.RUN_NAME_TAG and value.strip():
        container.runs.update_run(principal, run_id, name=value)
    return messages.respond()


@router.post(f"{API_2}/runs/delete-tag")
@short_transaction
def delete_tag(body: MlflowBody, container: ContainerDep, principal: Writer) -> Response:
    container.run_data.delete_tag(principal, body.run_id(), body.string("key", required=True))
    return messages.respond()


@router.post(f"{API_2}/runs/log-batch")
@short_transaction
@appends_run_data
def log_batch(body: MlflowBody, container: ContainerDep, principal: Writer) -> Response:
    metrics = [_batch_metric(m) for m in body.objects("metrics")]
    container.run_data.log_batch(
        principal, body.run_id(), params=_with_values(body.objects("params")),
        metrics=metrics, tags=_with_values(body.objects("tags")),
    )
    return messages.respond()


@router.post(f"{API_2}/runs/log-inputs")
@short_transaction
@appends_run_data
def log_inputs(body: MlflowBody, container: ContainerDep, principal: Writer) -> Response:
    datasets = []
    for item in body.objects("datasets"):
        dataset = item.get("dataset")
        if not isinstance(dataset, dict):
            raise InvalidInput("each dataset input needs a 'dataset' object", field="datasets")
        tags = item.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, dict) for t in tags):
            raise InvalidInput("dataset input tags must be a list of objects", field="tags")
        datasets.append({**dataset, "tags": {t.get("key"): t.get("value") for t in tags}})
    models = [model_id_of(item) for item in body.objects("models")]
    container.run_data.log_inputs(principal, body.run_id(), datasets, models=models)
    return messages.respond()


@router.post(f"{API_2}/runs/search")
def search_runs(body: MlflowBody, container: ContainerDep, principal: Reader) -> Response:
    limit = body.int64("max_results", default=1000)
    if not 1 <= limit <= MAX_RUN_RESULTS:
        raise InvalidInput(f"max_results must be between 1 and {MAX_RUN_RESULTS}",
                           field="max_results")
    experiment_ids = [
        resolve_experiment_id(container, principal, ident)
        for ident in body.strings("experiment_ids")
    ]
    page = container.runs.search_runs(
        principal, experiment_ids=experiment_ids, filter=body.string("filter"),
        order_by=body.strings("order_by"), view=view_of(body, "run_view_type"),
        limit=limit, cursor=body.string("page_token"),
    )
    answer: dict[str, Any] = {"runs": [messages.run(details) for details in page.items]}
    if page.next_cursor:
        answer["next_page_token"] = page.next_cursor
    return messages.respond(answer)


@router.get(f"{API_2}/metrics/get-history")
def get_metric_history(body: MlflowBody, container: ContainerDep, principal: Reader) -> Response:
    limit = body.int64("max_results", default=MAX_HISTORY_RESULTS)
    if not 1 <= limit <= MAX_HISTORY_RESULTS:
        raise InvalidInput(
            f"max_results must be between 1 and {MAX_HISTORY_RESULTS}", field="max_results"
        )
    page = container.run_data.metric_history(
        principal, body.run_id(), body.string("metric_key", required=True), limit=limit,
        cursor=body.string("page_token"),
    )
    answer: dict[str, Any] = {"metrics": [messages.metric(m) for m in page.items]}
    if page.next_cursor:
        answer["next_page_token"] = page.next_cursor
    return messages.respond(answer)


def _tags(body: MlflowRequest) -> dict[str, Any]:
    return {t.get("key"): t.get("value", "") for t in body.objects("tags")}


def _batch_metric(item: dict[str, Any]) -> dict[str, Any]:
    """A log-batch metric with proto3 JSON's string forms ("NaN", "12" for an int64) read.

    Numbers that JSON already gave as a float or an int go through as they are: the service
    checks every value's type and range once. The link fields are passed only when present.
    """
    value, step, timestamp = item.get("value"), item.get("step"), item.get("timestamp")
    if type(value) is not float:
        value = parse_double(value, "metrics.value")
    if step is None or step == "":  # absent, as MlflowRequest.int64 reads it
        step = 0
    elif type(step) is not int:
        step = parse_int64(step, "metrics.step")
    if timestamp == "":
        timestamp = None
    elif timestamp is not None and type(timestamp) is not int:
        timestamp = parse_int64(timestamp, "metrics.timestamp")
    metric = {"key": item.get("key"), "value": value, "step": step, "timestamp": timestamp}
    metric.update((field, item[field]) for field in LINK_FIELDS if field in item)
    return metric


def _with_values(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Items whose missing ``value`` means the empty string (proto3 omits defaults)."""
    return [{"key": item.get("key"), "value": item.get("value", "")} for item in items]
