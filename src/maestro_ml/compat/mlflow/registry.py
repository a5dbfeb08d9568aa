"""MLflow REST: the model registry (``/api/2.0/mlflow/registered-models/*`` and
``/api/2.0/mlflow/model-versions/*``) over Maestro's registry.

A registered model IS a Maestro model (found by name in the caller's tenant), a model version
IS a Maestro model version, an alias IS a Maestro alias, so everything registered here is
listed, deployed and served by the native API too. Changing an alias or a stage is a
promotion (``models:promote``), deleting needs ``models:delete``, as natively. Versions
registered from an MLflow source are made deployable by :mod:`services.registry_sources`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from maestro_ml.api.deps import ContainerDep
from maestro_ml.auth.principal import Principal
from maestro_ml.domain.errors import InvalidInput, NotFound
from maestro_ml.services.registry_sources import VersionSource

from . import registry_filters as filters
from . import registry_shapes as shapes
from .artifact_paths import SCHEME, resolve, strip_scheme
from .common import API_2, MlflowBody, MlflowRequest, mlflow_require, ok

router = APIRouter(tags=["mlflow"])

Reader = Annotated[Principal, mlflow_require("models:read")]
Writer = Annotated[Principal, mlflow_require("models:write")]
Promoter = Annotated[Principal, mlflow_require("models:promote")]
Deleter = Annotated[Principal, mlflow_require("models:delete")]

MODELS = f"{API_2}/registered-models"
VERSIONS = f"{API_2}/model-versions"
MAX_MODEL_RESULTS = 1000
MAX_VERSION_RESULTS = 200_000
VERSION_PAGE_CAP = 10_000
_LOGGED_MODEL_URI = re.compile(r"models:/(m-[0-9a-f]{32})/?")
_RUNS_URI = re.compile(r"runs:/([0-9a-zA-Z_-]{1,64})/(.*)")
_MODEL_ORDER = {"name": "name", "timestamp": "created_at", "creation_timestamp": "created_at",
                "last_updated_timestamp": "updated_at"}
_VERSION_ORDER = {"version_number": "version", "creation_timestamp": "created_at",
                  "timestamp": "created_at", "last_updated_timestamp": "updated_at"}


def _model_id(container: Any, principal: Principal, body: MlflowRequest) -> str:
    return container.registry.find_model_id(  # type: ignore[no-any-return]
        principal, body.string("name", required=True)
    )


def _version(body: MlflowRequest) -> int:
    number = body.int64("version")
    if number is None:
        raise InvalidInput("missing value for required parameter 'version'", field="version")
    if number < 1:
        raise InvalidInput("version must be a positive integer", field="version")
    return number


def _registered(container: Any, principal: Principal, model_id: str) -> JSONResponse:
    view = container.registry_search.registered_model(principal, model_id)
    return ok({"registered_model": shapes.registered_model(view)})


def _version_answer(name: str, view: Any) -> JSONResponse:
    return ok({"model_version": shapes.model_version(name, view)})


def _limit(body: MlflowRequest, default: int, maximum: int) -> int:
    limit = body.int64("max_results", default=default)
    if not 1 <= limit <= maximum:
        raise InvalidInput(f"max_results must be between 1 and {maximum}", field="max_results")
    return int(limit)


# -- registered models ------------------------------------------------------------------
@router.post(f"{MODELS}/create")
def create_registered_model(
    body: MlflowBody, container: ContainerDep, principal: Writer
) -> JSONResponse:
    view = container.registry.create_model(
        principal, body.string("name", required=True), "classification", "mlflow",
        description=body.string("description"), tags=shapes.tag_map(body),
    )
    body.created(view.id)
    return _registered(container, principal, view.id)


@router.get(f"{MODELS}/get")
def get_registered_model(
    body: MlflowBody, container: ContainerDep, principal: Reader
) -> JSONResponse:
    return _registered(container, principal, _model_id(container, principal, body))


@router.get(f"{MODELS}/search")
def search_registered_models(
    body: MlflowBody, container: ContainerDep, principal: Reader
) -> JSONResponse:
    clauses = filters.parse_filter(body.string("filter"), filters.MODEL_ATTRIBUTES)
    page = container.registry_search.search_models(
        principal, predicate=filters.compile_filter(body.string("filter"),
                                                    filters.MODEL_ATTRIBUTES),
        order=filters.parse_order_by(body.strings("order_by"), _MODEL_ORDER, [("name", True)]),
        limit=_limit(body, 100, MAX_MODEL_RESULTS), page_token=body.string("page_token"),
        name_like=filters.name_pattern(clauses),
    )
    answer: dict[str, Any] = {"registered_models": [shapes.registered_model(v)
                                                    for v in page.items]}
    if page.next_page_token:
        answer["next_page_token"] = page.next_page_token
    return ok(answer)


@router.patch(f"{MODELS}/update")
def update_registered_model(
    body: MlflowBody, container: ContainerDep, principal: Writer
) -> JSONResponse:
    model_id = _model_id(container, principal, body)
    container.registry.update_model(principal, model_id, description=body.string("description"))
    return _registered(container, principal, model_id)


@router.post(f"{MODELS}/rename")
def rename_registered_model(
    body: MlflowBody, container: ContainerDep, principal: Writer
) -> JSONResponse:
    model_id = _model_id(container, principal, body)
    container.registry.rename_model(principal, model_id, body.string("new_name", required=True))
    return _registered(container, principal, model_id)


@router.delete(f"{MODELS}/delete")
def delete_registered_model(
    body: MlflowBody, container: ContainerDep, principal: Deleter
) -> JSONResponse:
    container.registry.delete_model(principal, _model_id(container, principal, body))
    return ok()


@router.post(f"{MODELS}/set-tag")
def set_registered_model_tag(
    body: MlflowBody, container: ContainerDep, principal: Writer
) -> JSONResponse:
    container.registry.set_model_tag(
        principal, _model_id(container, principal, body), body.string("key", required=True),
        body.string("value", default=""),
    )
    return ok()


@router.delete(f"{MODELS}/delete-tag")
def delete_registered_model_tag(
    body: MlflowBody, container: ContainerDep, principal: Writer
) -> JSONResponse:
    container.registry.set_model_tag(
        principal, _model_id(container, principal, body), body.string("key", required=True),
        None,
    )
    return ok()


@router.post(f"{MODELS}/alias")
def set_registered_model_alias(
    body: MlflowBody, container: ContainerDep, principal: Promoter
) -> JSONResponse:
    container.registry.set_alias(
        principal, _model_id(container, principal, body), body.string("alias", required=True),
        _version(body),
    )
    return ok()


@router.delete(f"{MODELS}/alias")
def delete_registered_model_alias(
    body: MlflowBody, container: ContainerDep, principal: Promoter
) -> JSONResponse:
    container.registry.delete_alias(
        principal, _model_id(container, principal, body), body.string("alias", required=True),
        missing_ok=True,
    )
    return ok()


@router.get(f"{MODELS}/alias")
def get_model_version_by_alias(
    body: MlflowBody, container: ContainerDep, principal: Reader
) -> JSONResponse:
    name = body.string("name", required=True)
    model_id = _model_id(container, principal, body)
    view = container.registry.get_alias(principal, model_id, body.string("alias", required=True))
    return _version_answer(name, view)


@router.get(f"{MODELS}/get-latest-versions", name="get_latest_versions_by_query")
def get_latest_versions_by_query(
    body: MlflowBody, container: ContainerDep, principal: Reader
) -> JSONResponse:
    return get_latest_versions(body, container, principal)


@router.post(f"{MODELS}/get-latest-versions")
def get_latest_versions(
    body: MlflowBody, container: ContainerDep, principal: Reader
) -> JSONResponse:
    name = body.string("name", required=True)
    views = container.registry.latest_by_stage(
        principal, _model_id(container, principal, body), body.strings("stages") or None
    )
    return ok({"model_versions": [shapes.model_version(name, v) for v in views]})


# -- model versions ---------------------------------------------------------------------
def version_source(container: Any, principal: Principal, body: MlflowRequest) -> VersionSource:
    """Where a new version's files are: a logged model, a proxied path, a run's artifacts,
    or somewhere outside the tenant's store (recorded, never read)."""
    source = body.string("source", required=True)
    run_id, run_link = body.string("run_id") or None, body.string("run_link") or None
    logged = _LOGGED_MODEL_URI.fullmatch(source)
    logged_id = body.string("model_id") or (logged.group(1) if logged else None)
    if logged_id:
        model = container.logged_models.get(principal, logged_id)
        location = model.artifact_location
        return VersionSource(source, resolve(strip_scheme(location)).key, location,
                             run_id or model.source_run_id, model.id, run_link)
    if source.startswith(SCHEME):
        return VersionSource(source, resolve(strip_scheme(source)).key, source, run_id,
                             run_link=run_link)
    runs = _RUNS_URI.fullmatch(source)
    if runs:
        key = resolve(f"runs/{runs.group(1)}/artifacts/{runs.group(2)}").key
        return VersionSource(source, key, source, run_id or runs.group(1), run_link=run_link)
    return VersionSource(source, None, source, run_id, run_link=run_link)


@router.post(f"{VERSIONS}/create")
def create_model_version(
    body: MlflowBody, container: ContainerDep, principal: Writer
) -> JSONResponse:
    name = body.string("name", required=True)
    model_id = _model_id(container, principal, body)
    view = container.registry_sources.register_version(
        principal, model_id, version_source(container, principal, body),
        tags=shapes.tag_map(body), description=body.string("description"),
    )
    body.created(view.id)
    return _version_answer(name, view)


@router.get(f"{VERSIONS}/get")
def get_model_version(
    body: MlflowBody, container: ContainerDep, principal: Reader
) -> JSONResponse:
    name = body.string("name", required=True)
    view = container.registry.get_version(
        principal, _model_id(container, principal, body), _version(body)
    )
    return _version_answer(name, view)


@router.patch(f"{VERSIONS}/update")
def update_model_version(
    body: MlflowBody, container: ContainerDep, principal: Writer
) -> JSONResponse:
    name = body.string("name", required=True)
    view = container.registry.update_version(
        principal, _model_id(container, principal, body), _version(body),
        description=body.string("description"),
    )
    return _version_answer(name, view)


@router.delete(f"{VERSIONS}/delete")
def delete_model_version(
    body: MlflowBody, container: ContainerDep, principal: Deleter
) -> JSONResponse:
    container.registry.delete_version(
        principal, _model_id(container, principal, body), _version(body)
    )
    return ok()


@router.get(f"{VERSIONS}/search")
def search_model_versions(
    body: MlflowBody, container: ContainerDep, principal: Reader
) -> JSONResponse:
    text = body.string("filter")
    clauses = filters.parse_filter(text, filters.VERSION_ATTRIBUTES)
    limit = min(_limit(body, VERSION_PAGE_CAP, MAX_VERSION_RESULTS), VERSION_PAGE_CAP)
    page = container.registry_search.search_versions(
        principal, predicate=filters.compile_filter(text, filters.VERSION_ATTRIBUTES),
        order=filters.parse_order_by(body.strings("order_by"), _VERSION_ORDER,
                                     [("created_at", False), ("version", False)]),
        limit=limit, page_token=body.string("page_token"),
        model_name=filters.exact_name(clauses),
    )
    answer: dict[str, Any] = {"model_versions": [
        shapes.model_version(item.model_name, item.version) for item in page.items
    ]}
    if page.next_page_token:
        answer["next_page_token"] = page.next_page_token
    return ok(answer)


@router.post(f"{VERSIONS}/set-tag")
def set_model_version_tag(
    body: MlflowBody, container: ContainerDep, principal: Writer
) -> JSONResponse:
    container.registry.set_version_tag(
        principal, _model_id(container, principal, body), _version(body),
        body.string("key", required=True), body.string("value", default=""),
    )
    return ok()


@router.delete(f"{VERSIONS}/delete-tag")
def delete_model_version_tag(
    body: MlflowBody, container: ContainerDep, principal: Writer
) -> JSONResponse:
    container.registry.set_version_tag(
        principal, _model_id(container, principal, body), _version(body),
        body.string("key", required=True), None,
    )
    return ok()


@router.post(f"{VERSIONS}/transition-stage")
def transition_model_version_stage(
    body: MlflowBody, container: ContainerDep, principal: Promoter
) -> JSONResponse:
    name = body.string("name", required=True)
    archive = body.data.get("archive_existing_versions", False)
    if not isinstance(archive, bool):
        archive = str(archive).lower() == "true"
    view = container.registry.transition_stage(
        principal, _model_id(container, principal, body), _version(body),
        body.string("stage", required=True), archive_existing=archive,
    )
    return _version_answer(name, view)


@router.get(f"{VERSIONS}/get-download-uri")
def get_model_version_download_uri(
    body: MlflowBody, container: ContainerDep, principal: Reader
) -> JSONResponse:
    name = body.string("name", required=True)
    view = container.registry.get_version(
        principal, _model_id(container, principal, body), _version(body)
    )
    if not view.storage_location:
        raise NotFound(
            f"version {view.version} of model '{name}' was not registered through MLflow and "
            "has no MLflow download location; download it with the Maestro API", kind="model",
        )
    return ok({"artifact_uri": view.storage_location})
