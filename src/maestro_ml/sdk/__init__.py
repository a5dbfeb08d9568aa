"""The Python SDK: ``Client`` (typed calls over httpx) and the fluent tracking API.

Imports only httpx, pydantic, rich and ``maestro_ml.domain`` (an import-linter contract
keeps the server side out), so it installs and runs anywhere a notebook does.
"""

from .client import Client
from .errors import (
    AlreadyExists,
    Conflict,
    InvalidInput,
    InvalidPath,
    MaestroError,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    QuotaExceeded,
    RateLimited,
    RetryableError,
    TrainingError,
    Unauthenticated,
    Unavailable,
    WaitTimeout,
)
from .fluent import (
    ActiveRun,
    active_run,
    default_client,
    end_run,
    log_artifact,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    set_default_client,
    set_tag,
    start_run,
)
from .transport import RetryPolicy

__all__ = [
    "ActiveRun", "AlreadyExists", "Client", "Conflict", "InvalidInput", "InvalidPath",
    "MaestroError", "NotFound", "PayloadTooLarge", "PermissionDenied", "QuotaExceeded",
    "RateLimited", "RetryPolicy", "RetryableError", "TrainingError", "Unauthenticated",
    "Unavailable", "WaitTimeout", "active_run", "default_client", "end_run", "log_artifact",
    "log_metric", "log_metrics", "log_param", "log_params", "set_default_client", "set_tag",
    "start_run",
]
