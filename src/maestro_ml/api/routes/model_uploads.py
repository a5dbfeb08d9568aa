"""Registering a model trained elsewhere as a new version (multipart upload)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile

from maestro_ml.auth.principal import Principal
from maestro_ml.domain.errors import InvalidInput

from ..deps import ContainerDep, require
from ..schemas.registry import ModelVersionRead

router = APIRouter(prefix="/api/v1/models", tags=["models"])


@router.post("/{model_id}/versions", response_model=ModelVersionRead, status_code=201)
def upload_model_version(
    model_id: str, container: ContainerDep,
    principal: Annotated[Principal, require("models:write")],
    # Optional here so that the model is looked up (404 for another tenant's) before the
    # service insists on the file.
    file: Annotated[UploadFile | None, File(
        description="required: a model file (.skops, XGBoost .json/.ubj, LightGBM .txt, "
        ".pkl/.joblib) or a .zip/.tar.gz archive (MLflow or Maestro model directory)"
    )] = None,
    signature: Annotated[str | None, Form(
        max_length=1_000_000,
        description='JSON {"inputs": [{"name", "type"}], "outputs": [...]}; required for '
        "pickle-based models without one in their MLmodel",
    )] = None,
    description: Annotated[str | None, Form(max_length=10_000)] = None,
) -> ModelVersionRead:
    view = container.model_uploads.upload_version(
        principal, model_id, filename=file.filename if file else None,
        content=file.file if file else None,
        signature=_parse_signature(signature), description=description,
    )
    return ModelVersionRead.model_validate(view)


def _parse_signature(raw: str | None) -> Any:
    if raw is None or not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise InvalidInput(f"signature: not valid JSON ({exc})", field="signature") from exc
