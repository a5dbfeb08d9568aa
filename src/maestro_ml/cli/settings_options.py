"""Build ``Settings`` from the environment plus the command line's overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from maestro_ml.config import Settings


def load_settings(data_dir: Path | None = None, **overrides: Any) -> Settings:
    values = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    return Settings(**values)
