"""What every MLflow endpoint shares: its error format, its authentication, its request body.

MLflow clients read errors as ``{"error_code": ..., "message": ...}`` and retry 429/5xx
answers for minutes, so a client mistake must come back as a 4xx with a stable MLflow code
(:func:`render_error`, installed by the API for the MLflow path prefixes). They
authenticate with ``Authorization: Bearer <token>`` (``MLFLOW_TRACKING_TOKEN``) or HTTP
Basic (``MLFLOW_TRACKING_USERNAME``/``PASSWORD``); Basic means an argon2 verification
(~50 ms), so a successful one is remembered for a short time under an HMAC of the
credentials, never the password itself. Requests carry their fields as query parameters
(GET) or a JSON object (POST, PATCH), with int64 fields as numbers or strings (proto3 JSON).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import os
import threading
import time
from collections import OrderedDict
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from maestro_ml.api.deps import require
from maestro_ml.api.middleware.rate_limit import enforce_principal_limits
from maestro_ml.auth.principal import Principal
from maestro_ml.domain.errors import InvalidInput, Unauthenticated

MLFLOW_PREFIXES = ("/api/2.0/mlflow", "/api/3.0/mlflow", "/ajax-api/")
API_2 = "/api/2.0/mlflow"
API_3 = "/api/3.0/mlflow"
AJAX_2 = "/ajax-api/2.0/mlflow"

INVALID_PARAMETER_VALUE = "INVALID_PARAMETER_VALUE"
# Maestro error codes -> (MLflow error code, HTTP status). Client mistakes stay 4xx.
_MLFLOW_ERRORS: dict[str, tuple[str, int]] = {
    "not_found": ("RESOURCE_DOES_NOT_EXIST", 404),
    "already_exists": ("RESOURCE_ALREADY_EXISTS", 400),
    "conflict": (INVALID_PARAMETER_VALUE, 400),
    "invalid_input": (INVALID_PARAMETER_VALUE, 400),
    "invalid_path": (INVALID_PARAMETER_VALUE, 400),
    "training_error": (INVALID_PARAMETER_VALUE, 400),
    "payload_too_large": (INVALID_PARAMETER_VALUE, 413),
    "unauthenticated": ("UNAUTHENTICATED", 401),
    "permission_denied": ("PERMISSION_DENIED", 403),
    "quota_exceeded": ("REQUEST_LIMIT_EXCEEDED", 429),
    "rate_limited": ("REQUEST_LIMIT_EXCEEDED", 429),
    "unavailable": ("TEMPORARILY_UNAVAILABLE", 503),
    "retryable": ("TEMPORARILY_UNAVAILABLE", 503),
    "method_not_allowed": ("BAD_REQUEST", 405),
    "internal_error": ("INTERNAL_ERROR", 500),
}

BASIC_CACHE_SECONDS = 30.0
BASIC_CACHE_SIZE = 4096


def render_error(status: int, code: str, detail: str, headers: dict[str, str]) -> JSONResponse:
    """A Maestro error (its ``code`` and the status Maestro gives it) in MLflow's format."""
    if code == "not_found" and detail.startswith("no route for"):
        mlflow_code, mlflow_status = "ENDPOINT_NOT_FOUND", 404
    else:
        fallback = ("INTERNAL_ERROR" if status >= 500 else "BAD_REQUEST", status)
        mlflow_code, mlflow_status = _MLFLOW_ERRORS.get(code, fallback)
    headers = dict(headers)
    if mlflow_status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="maestro", Bearer realm="maestro"'
    # Maestro's own stable code rides along, so one client can handle both APIs alike.
    body = {"error_code": mlflow_code, "message": detail, "code": code}
    return JSONResponse(body, status_code=mlflow_status, headers=headers)


def error_formats() -> list[tuple[tuple[str, ...], Any]]:
    """(path prefixes, renderer) pairs the API installs for its error handlers."""
    return [(MLFLOW_PREFIXES, render_error)]


# -- authentication ---------------------------------------------------------------------
class BasicCredentialCache:
    """Principals of recently verified Basic credentials, keyed by an HMAC of them.

    Bounded (least recently used leave first) and short-lived, so a disabled user or a
    changed password stops working within ``ttl`` seconds.
    """

    def __init__(self, ttl: float = BASIC_CACHE_SECONDS, size: int = BASIC_CACHE_SIZE) -> None:
        self._ttl, self._size = ttl, size
        self._key = os.urandom(32)
        self._entries: OrderedDict[bytes, tuple[Principal, float]] = OrderedDict()
        self._lock = threading.Lock()

    def digest(self, email: str, password: str) -> bytes:
        message = email.strip().lower().encode() + b"\0" + password.encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def get(self, digest: bytes) -> Principal | None:
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            if entry[1] <= time.monotonic():
                del self._entries[digest]
                return None
            self._entries.move_to_end(digest)
            return entry[0]

    def put(self, digest: bytes, principal: Principal) -> None:
        with self._lock:
            self._entries[digest] = (principal, time.monotonic() + self._ttl)
            self._entries.move_to_end(digest)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def basic_cache(request: Request) -> BasicCredentialCache:
    state = request.app.state
    cache = getattr(state, "mlflow_basic_cache", None)
    if cache is None:
        cache = state.mlflow_basic_cache = BasicCredentialCache()
    return cache  # type: ignore[no-any-return]


async def authenticate_mlflow(request: Request) -> Principal:
    """The caller from a Bearer credential (API key or access token) or HTTP Basic."""
    values = request.headers.getlist("authorization")
    if not values:
        raise Unauthenticated(
            "missing credentials: set MLFLOW_TRACKING_TOKEN to a Maestro API key, or "
            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD to your email and password"
        )
    if len(values) > 1:
        raise Unauthenticated("send exactly one Authorization header")
    scheme, _, credential = values[0].strip().partition(" ")
    credential = credential.strip()
    if not credential:
        raise Unauthenticated("the Authorization header has no credential")
    identity = request.app.state.container.identity
    if scheme.lower() == "bearer":
        principal = identity.authenticate_without_io(credential)
        if principal is None:
            principal = await run_in_threadpool(identity.authenticate, credential)
    elif scheme.lower() == "basic":
        principal = await _basic_principal(request, identity, credential)
    else:
        raise Unauthenticated("use 'Authorization: Bearer <API key>' or HTTP Basic")
    request.state.principal = principal
    enforce_principal_limits(request.scope["state"], principal)
    return principal  # type: ignore[no-any-return]


async def _basic_principal(request: Request, identity: Any, credential: str) -> Principal:
    try:
        decoded = base64.b64decode(credential, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthenticated("malformed HTTP Basic credentials") from None
    email, sep, password = decoded.partition(":")
    if not sep or not email or not password:
        raise Unauthenticated("HTTP Basic credentials must be 'email:password'")
    cache = basic_cache(request)
    digest = cache.digest(email, password)
    principal = cache.get(digest)
    if principal is None:
        principal = await run_in_threadpool(identity.authenticate_password, email, password)
        cache.put(digest, principal)
    return principal


def mlflow_require(permission: str) -> Any:
    """Like ``api.deps.require``, with HTTP Basic accepted as well as Bearer credentials."""
    return require(permission, authenticate_mlflow)


# -- request fields ---------------------------------------------------------------------
_INT64 = 2**63
_EXACT_FLOAT_INT = 2**53  # the largest run of integers a double holds exactly


class MlflowRequest:
    """The fields of one MLflow request, read with the proto3 JSON rules."""

    def __init__(self, data: dict[str, Any], state: Any) -> None:
        self.data = data
        self._state = state  # the request's state, where the audit event finds its object

    def created(self, object_id: str) -> None:
        """Name the object this request created in its audit event, as a native create's
        event names it (MLflow answers 200 with the id inside, not a 201 with it on top)."""
        named = getattr(self._state, "audit_object", None) or {}
        self._state.audit_object = {**named, "id": str(object_id)}

    def has(self, name: str) -> bool:
        return self.data.get(name) is not None

    def string(self, name: str, *, required: bool = False, default: str | None = None) -> Any:
        value = self.data.get(name)
        if isinstance(value, list):
            value = value[0] if value else None
        if value is None or value == "" and required:
            if required:
                raise InvalidInput(f"missing value for required parameter '{name}'", field=name)
            return default
        if not isinstance(value, str):
            raise InvalidInput(f"parameter '{name}' must be a string", field=name)
        return value

    def int64(self, name: str, *, default: int | None = None) -> Any:
        value = self.data.get(name)
        if isinstance(value, list):
            value = value[0] if value else None
        if value is None or value == "":
            return default
        return parse_int64(value, name)

    def number(self, name: str, *, required: bool = False) -> float:
        value = self.data.get(name)
        if value is None:
            if required:
                raise InvalidInput(f"missing value for required parameter '{name}'", field=name)
            return math.nan
        return parse_double(value, name)

    def strings(self, name: str) -> list[str]:
        value = self.data.get(name)
        if value is None:
            return []
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(v, str) for v in values):
            raise InvalidInput(f"parameter '{name}' must be a list of strings", field=name)
        return values

    def objects(self, name: str) -> list[dict[str, Any]]:
        value = self.data.get(name)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise InvalidInput(f"parameter '{name}' must be a list of objects", field=name)
        return value

    def run_id(self) -> str:
        """``run_id``, or ``run_uuid`` as older clients send it."""
        return self.string("run_id") or self.string("run_uuid", required=True)  # type: ignore[no-any-return]


MAX_MODEL_ID = 64


def model_id_of(item: dict[str, Any]) -> str:
    """The ``model_id`` of an entry of a ``models`` list (log_outputs, log_inputs)."""
    model_id = item.get("model_id")
    if not isinstance(model_id, str) or not 1 <= len(model_id) <= MAX_MODEL_ID:
        raise InvalidInput(f"models: every entry needs a 'model_id' of 1 to {MAX_MODEL_ID} "
                           "characters", field="models")
    return model_id


def parse_int64(value: Any, name: str) -> int:
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise InvalidInput(f"parameter '{name}' must be an integer", field=name) from None
    if isinstance(value, float):
        # A JSON integer outside 64 bits arrives as a float that rounds into range (orjson);
        # only a float that holds its integer exactly is one (others fail the check below).
        value = int(value) if value.is_integer() and abs(value) <= _EXACT_FLOAT_INT else None
    if isinstance(value, bool) or not isinstance(value, int) or not -_INT64 <= value < _INT64:
        raise InvalidInput(f"parameter '{name}' must be a 64-bit integer", field=name)
    return value


_SPECIAL_DOUBLES = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def parse_double(value: Any, name: str) -> float:
    """A proto3 JSON double: a number, or a string such as ``"NaN"``, ``"Infinity"``."""
    if isinstance(value, str):
        if value in _SPECIAL_DOUBLES:
            return _SPECIAL_DOUBLES[value]
        try:
            return float(value)
        except ValueError:
            raise InvalidInput(f"parameter '{name}' must be a number", field=name) from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"parameter '{name}' must be a number", field=name)
    try:
        return float(value)
    except OverflowError:
        raise InvalidInput(f"parameter '{name}' is too large", field=name) from None


# Fields of an MLflow write that name its object, in the audit event's order (the event's
# object id is the last one present that ends in "id" or "name").
AUDITED_FIELDS = ("experiment_id", "name", "version", "alias", "run_id")


async def read_mlflow_request(request: Request) -> MlflowRequest:
    """Query parameters (repeated ones as lists) for GET, the JSON object otherwise."""
    if request.method in ("GET", "DELETE") and not request.headers.get("content-length"):
        data: dict[str, Any] = {}
        for key, value in request.query_params.multi_items():
            held = data.get(key)
            if held is None:
                data[key] = value
            else:
                data[key] = [*held, value] if isinstance(held, list) else [held, value]
        return MlflowRequest(data, request.state)
    raw = await request.body()
    if not raw.strip():
        return MlflowRequest(dict(request.query_params), request.state)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidInput("the request body must be a JSON object") from None
    if not isinstance(data, dict):
        raise InvalidInput("the request body must be a JSON object")
    # MLflow names its objects in the body, not the path: the audit event records them.
    named = {field: str(data[field])[:128] for field in AUDITED_FIELDS
             if type(data.get(field)) in (str, int) and data[field] != ""}  # not bool
    if named:
        request.state.audit_object = named
    return MlflowRequest(data, request.state)


MlflowBody = Annotated[MlflowRequest, Depends(read_mlflow_request)]


def ok(body: dict[str, Any] | None = None) -> JSONResponse:
    return JSONResponse(body or {})
