"""Maestro ML: a self-hosted ML platform; this package's top level is the Python SDK.

>>> import maestro_ml
>>> client = maestro_ml.Client(api_url="http://127.0.0.1:8000", api_key="mk_...")
>>> with maestro_ml.start_run(experiment="churn") as run:
...     maestro_ml.log_metric("accuracy", 0.93)

The SDK names are loaded on first use (PEP 562), so the server, the worker and the
training subprocess, which import ``maestro_ml.<layer>``, do not pay for the client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from maestro_ml.sdk import (
        ActiveRun,
        AlreadyExists,
        Client,
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
        RetryPolicy,
        TrainingError,
        Unauthenticated,
        Unavailable,
        WaitTimeout,
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

__version__ = "0.1.0"

__all__ = [
    "ActiveRun", "AlreadyExists", "Client", "Conflict", "InvalidInput", "InvalidPath",
    "MaestroError", "NotFound", "PayloadTooLarge", "PermissionDenied", "QuotaExceeded",
    "RateLimited", "RetryPolicy", "RetryableError", "TrainingError", "Unauthenticated",
    "Unavailable", "WaitTimeout", "active_run", "default_client", "end_run", "log_artifact",
    "log_metric", "log_metrics", "log_param", "log_params", "set_default_client", "set_tag",
    "start_run",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from maestro_ml import sdk

        value = getattr(sdk, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'maestro_ml' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
