"""The one error hierarchy of Maestro ML.

Every failure a user can cause or meet is one of these classes, each with a stable
``code`` that travels over HTTP (``application/problem+json``) and is rebuilt into the
same class by the SDK::

    MaestroError                    code
    ├── NotFound                    not_found              404
    ├── AlreadyExists               already_exists         409
    ├── Conflict                    conflict               409
    ├── InvalidInput                invalid_input          422
    │   ├── InvalidPath             invalid_path           400
    │   ├── PayloadTooLarge         payload_too_large      413
    │   └── TrainingError           training_error         422
    ├── Unauthenticated             unauthenticated        401
    ├── PermissionDenied            permission_denied      403
    ├── QuotaExceeded               quota_exceeded         429
    ├── RateLimited                 rate_limited           429
    └── Unavailable                 unavailable            503
        └── RetryableError          retryable              503

The API maps classes to statuses in one table (``maestro_ml.api.errors``); jobs treat
``RetryableError`` as "retry with backoff" and anything else as a permanent failure.
"""

from __future__ import annotations

from typing import Any


class MaestroError(Exception):
    """Base of all Maestro errors; ``detail`` is shown to the user, ``extra`` is structured."""

    code = "error"
    title = "Error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(MaestroError):
    code = "not_found"
    title = "Not found"

    @classmethod
    def of(cls, kind: str, ident: object) -> NotFound:
        return cls(f"{kind} '{ident}' does not exist", kind=kind)


class AlreadyExists(MaestroError):
    code = "already_exists"
    title = "Already exists"


class Conflict(MaestroError):
    code = "conflict"
    title = "Conflict"


class InvalidInput(MaestroError):
    code = "invalid_input"
    title = "Invalid input"


class InvalidPath(InvalidInput):
    code = "invalid_path"
    title = "Invalid path"


class PayloadTooLarge(InvalidInput):
    code = "payload_too_large"
    title = "Payload too large"


class TrainingError(InvalidInput):
    code = "training_error"
    title = "Training failed"


class Unauthenticated(MaestroError):
    code = "unauthenticated"
    title = "Authentication required"


class PermissionDenied(MaestroError):
    code = "permission_denied"
    title = "Permission denied"


class QuotaExceeded(MaestroError):
    code = "quota_exceeded"
    title = "Quota exceeded"


class RateLimited(MaestroError):
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, detail: str, retry_after: float = 1.0, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.retry_after = retry_after


class Unavailable(MaestroError):
    code = "unavailable"
    title = "Service unavailable"

    def __init__(self, detail: str, retry_after: float = 5.0, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.retry_after = retry_after


class RetryableError(Unavailable):
    code = "retryable"
    title = "Temporary failure"


def all_error_classes() -> list[type[MaestroError]]:
    """Every class of the hierarchy, base first (used to rebuild errors from codes)."""
    seen: list[type[MaestroError]] = [MaestroError]
    for cls in seen:
        seen.extend(sub for sub in cls.__subclasses__() if sub not in seen)
    return seen


ERRORS_BY_CODE: dict[str, type[MaestroError]] = {c.code: c for c in all_error_classes()}
