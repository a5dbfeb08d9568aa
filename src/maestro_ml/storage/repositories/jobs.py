"""Repository of durable jobs and their logs."""

from __future__ import annotations

from ..tables import JobRow
from .base import Repository


class JobRepository(Repository[JobRow]):
    row = JobRow
    kind = "job"
