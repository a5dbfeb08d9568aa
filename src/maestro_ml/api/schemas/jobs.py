"""Schemas of jobs and their log lines."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .common import Read


class JobRead(Read):
    id: str
    kind: str
    status: str
    progress: float
    progress_message: str | None
    error: str | None
    error_code: str | None
    attempts: int
    max_attempts: int
    run_id: str | None
    result: dict[str, Any]
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class JobLogRead(Read):
    created_at: datetime
    level: str
    message: str
