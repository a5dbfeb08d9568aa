"""Structured logs: one JSON object per line (or readable text on a terminal), secrets redacted.

``configure_logging`` installs one stderr handler on the root logger and routes uvicorn's
loggers through it. Every record gets the fields of the request or job it belongs to —
``request_id``, ``trace_id``, ``span_id``, ``tenant``, ``user`` — read from context
variables the request middleware and the job worker set, so no call site passes them.

Redaction runs on the rendered message and on every string field: bearer tokens, JWTs,
API keys (``mk_``), refresh tokens (``mr_``) and ``password=``/``secret:``-style pairs never
reach the output, whoever logged them.
"""

from __future__ import annotations

import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

from . import tracing

CONTEXT_FIELDS = ("request_id", "trace_id", "span_id", "tenant", "user")
EXTRA_FIELDS = ("route", "method", "path", "status", "duration_ms", "client", "job_id")
REDACTED = "[REDACTED]"
# Values the server makes itself (hex ids, route templates): never a secret, never scanned.
GENERATED_FIELDS = frozenset({"trace_id", "span_id", "tenant", "user", "route", "method",
                              "job_id", "client"})
SECRET_PATTERNS = (
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + REDACTED),
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),
    (re.compile(r"\bm[kr]_[A-Za-z0-9_-]{8,}"), REDACTED),
    (re.compile(
        r"(?i)((?:password|passwd|secret|token|api[_-]?key|authorization|credential)s?"
        r"[\"']?\s*[:=]\s*[\"']?)([^\s\"',;&}]+)"
    ), r"\1" + REDACTED),
)
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
# SQLAlchemy logs pool life at INFO under the pool class's module: our timed pool's.
QUIET_LOGGERS = ("maestro_ml.observability.db_metrics",)

# The request (or job) a log record belongs to: a mutable dict the middleware fills as it
# learns more (request id from the audit layer, principal after authentication).
_context: ContextVar[dict[str, Any] | None] = ContextVar("maestro_log_context", default=None)


def bind_context(fields: dict[str, Any]) -> Any:
    """Make ``fields`` (kept by reference) the current log context; returns a reset token."""
    return _context.set(fields)


def reset_context(token: Any) -> None:
    _context.reset(token)


# Every secret pattern contains one of these words: one scan decides whether to look closer.
SECRET_HINT = re.compile(
    r"(?i)bearer|basic|eyJ|m[kr]_|passw|secret|token|api[_-]?key|authorization|credential"
)


def redact(text: str) -> str:
    """``text`` with every recognised secret replaced by ``[REDACTED]``."""
    if SECRET_HINT.search(text) is None:  # the common case: an ordinary line
        return text
    for pattern, replacement in SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def context_fields() -> dict[str, Any]:
    """The request/job fields of the current context (absent ones omitted)."""
    fields: dict[str, Any] = {}
    bound = _context.get()
    if bound is not None:
        state = bound.get("state") or {}
        request_id = state.get("request_id") or bound.get("request_id")
        if request_id:
            fields["request_id"] = request_id
        principal = state.get("principal")
        if principal is not None:
            fields["tenant"] = principal.tenant_id
            fields["user"] = principal.user_id or principal.api_key_id
        for name in ("tenant", "user", "job_id"):
            if name in bound and name not in fields:
                fields[name] = bound[name]
    ids = tracing.current_ids()
    if ids is not None:
        fields["trace_id"] = ids.trace_id
        fields["span_id"] = ids.span_id
    return fields


class ContextFilter(logging.Filter):
    """Stamp the request/job context on each record (done at emit, in the logging thread)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in context_fields().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


def _message(record: logging.LogRecord) -> str:
    message = record.getMessage()
    if record.exc_info:
        message = f"{message}\n{logging.Formatter().formatException(record.exc_info)}"
    return redact(message)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": _message(record),
        }
        for name in (*CONTEXT_FIELDS, *EXTRA_FIELDS):
            value = getattr(record, name, None)
            if value is not None:
                scan = isinstance(value, str) and name not in GENERATED_FIELDS
                entry[name] = redact(value) if scan else value
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S.%f")[:-3]
        tail = " ".join(
            f"{name}={getattr(record, name)}" for name in ("request_id", "trace_id", "tenant")
            if getattr(record, name, None)
        )
        line = f"{stamp} {record.levelname:<7} {record.name}: {_message(record)}"
        return f"{line}  [{tail}]" if tail else line


def configure_logging(
    fmt: str = "auto", level: str = "INFO", stream: TextIO | None = None
) -> logging.Handler:
    """One handler (stderr by default) on the root logger; uvicorn's loggers propagate to it."""
    stream = stream or sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    handler.addFilter(ContextFilter())
    handler.set_name("maestro")
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == "maestro":
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in UVICORN_LOGGERS:
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    return handler
