"""The Open Inference Protocol v2 (KServe / Triton HTTP): health, model metadata, infer."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["inference-v2"])
