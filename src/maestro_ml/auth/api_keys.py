"""API key material: ``mk_`` + 256 random bits, shown once, stored as an HMAC."""

from __future__ import annotations

import secrets

PREFIX = "mk_"


def new_api_key() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def display_prefix(key: str) -> str:
    """The first characters, kept to let users recognise a key in listings."""
    return key[: len(PREFIX) + 6]


def looks_like_api_key(token: str) -> bool:
    return token.startswith(PREFIX) and 20 <= len(token) <= 100
