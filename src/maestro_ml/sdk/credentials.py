"""How the SDK proves who it is: an API key, or an email and password.

An API key is sent as-is (``Authorization: Bearer mk_...``). Email and password are
exchanged at ``POST /api/v1/auth/token`` for a short-lived access token and a refresh
token; the access token is refreshed (``POST /api/v1/auth/refresh``) shortly before it
expires, or when the server says it has, and the session logs in again when the refresh
token itself is no longer accepted. Refresh tokens are single-use on the server, so one
lock serialises refreshes across threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

import httpx

from .errors import Unauthenticated, client_error, error_from_response

# Refresh this long before the server's stated expiry, so a request in flight does not
# carry a token that expires on the way.
EXPIRY_MARGIN_SECONDS = 30.0


class Credentials(Protocol):
    """What the transport asks for before each request."""

    def authorization(self, http: httpx.Client) -> str | None:
        """The ``Authorization`` header value, or None for anonymous calls."""

    def invalidate(self, sent: str | None) -> bool:
        """Forget ``sent`` after a 401; True when asking again may succeed."""


class ApiKeyCredentials:
    """A static API key (``mk_...``); a 401 with it is final."""

    def __init__(self, api_key: str) -> None:
        self._header = f"Bearer {api_key}"

    def authorization(self, http: httpx.Client) -> str | None:
        return self._header

    def invalidate(self, sent: str | None) -> bool:
        return False


class AnonymousCredentials:
    """No credentials: only public routes (``/healthz``, ``/readyz``) will answer."""

    def authorization(self, http: httpx.Client) -> str | None:
        return None

    def invalidate(self, sent: str | None) -> bool:
        return False


class PasswordCredentials:
    """Email + password: log in once, then keep a fresh access token."""

    def __init__(
        self, email: str, password: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._email = email
        self._password = password
        self._clock = clock
        self._lock = threading.Lock()
        self._access: str | None = None
        self._refresh: str | None = None
        self._expires_at = 0.0

    def authorization(self, http: httpx.Client) -> str | None:
        with self._lock:
            if self._access is None or self._clock() >= self._expires_at:
                self._renew(http)
            return f"Bearer {self._access}"

    def invalidate(self, sent: str | None) -> bool:
        with self._lock:
            if sent == f"Bearer {self._access}":
                self._access = None  # next authorization() refreshes
            return True

    def _renew(self, http: httpx.Client) -> None:
        if self._refresh is not None:
            response = http.post("/api/v1/auth/refresh", json={"refresh_token": self._refresh})
            if response.status_code == 200:
                self._store(response)
                return
            self._refresh = None  # expired or revoked: log in from scratch
        response = http.post(
            "/api/v1/auth/token", json={"email": self._email, "password": self._password}
        )
        if response.status_code != 200:
            raise error_from_response(response)
        self._store(response)

    def _store(self, response: httpx.Response) -> None:
        body = response.json()
        if not isinstance(body, dict) or "access_token" not in body:
            raise client_error(
                Unauthenticated, "the server's login answer carried no access token"
            )
        self._access = str(body["access_token"])
        self._refresh = body.get("refresh_token")
        lifetime = float(body.get("expires_in") or 0)
        margin = min(EXPIRY_MARGIN_SECONDS, lifetime / 4)
        self._expires_at = self._clock() + max(0.0, lifetime - margin)
