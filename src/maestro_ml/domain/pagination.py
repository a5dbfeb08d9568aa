"""Paging: opaque page tokens and the page-size policy.

A page token is compact JSON in URL-safe base64 without padding. It is opaque to clients,
not secret and not signed: whatever a decoded token holds is untrusted input, so put only
keyset values in it (a sort value and an id) and use them as query parameters.

>>> decode_cursor(encode_cursor({"id": "r1", "start_time": 17}))
{'id': 'r1', 'start_time': 17}
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from maestro_ml.domain.errors import InvalidInput

MAX_TOKEN_LENGTH = 512
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")


def encode_cursor(values: dict[str, Any]) -> str:
    """Encode keyset values as a page token.

    Raises ``ValueError`` when the token would exceed :data:`MAX_TOKEN_LENGTH`, because
    :func:`decode_cursor` would refuse it: a bug in the caller, not the client's fault.
    """
    if not isinstance(values, dict):
        raise TypeError("cursor values must be a dict")
    text = json.dumps(values, separators=(",", ":"), sort_keys=True, allow_nan=False)
    token = base64.urlsafe_b64encode(text.encode()).decode("ascii").rstrip("=")
    if len(token) > MAX_TOKEN_LENGTH:
        raise ValueError(f"page token would be {len(token)} characters; limit {MAX_TOKEN_LENGTH}")
    return token


def decode_cursor(token: str) -> dict[str, Any]:
    """Decode a page token, or raise ``InvalidInput("invalid page token")``."""
    if (
        not isinstance(token, str)
        or len(token) > MAX_TOKEN_LENGTH
        or len(token) % 4 == 1  # no base64 string has this length
        or not _TOKEN.fullmatch(token)
    ):
        raise _invalid()
    try:
        data = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        values = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except (binascii.Error, UnicodeDecodeError, ValueError, RecursionError):
        raise _invalid() from None
    if not isinstance(values, dict):
        raise _invalid()
    return values


def clamp_page_size(requested: int | None, default: int = 50, maximum: int = 1000) -> int:
    """The page size to use: ``default`` when none was asked for, else ``requested``.

    >>> clamp_page_size(None), clamp_page_size(10)
    (50, 10)
    """
    if requested is None:
        return min(default, maximum)
    if isinstance(requested, bool) or not isinstance(requested, int):
        raise InvalidInput("page size must be an integer", maximum=maximum)
    if requested < 1 or requested > maximum:
        raise InvalidInput(
            f"page size must be between 1 and {maximum}, got {requested}", maximum=maximum
        )
    return requested


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; encode_cursor never writes them.
    raise ValueError(name)


def _invalid() -> InvalidInput:
    return InvalidInput("invalid page token")
