"""``client.api_keys``: your API keys (tenant admins see the whole tenant's)."""

from __future__ import annotations

from collections.abc import Iterator

from ..models import ApiKey, ApiKeyCreated
from .base import Resource, present, segment


class ApiKeys(Resource):
    """``client.api_keys``: create, list and revoke API keys."""

    def create(
        self, name: str, role: str | None = None, expires_in_days: int | None = None
    ) -> ApiKeyCreated:
        """Create a key for yourself; ``.key`` holds the secret, shown only now.

        >>> client.api_keys.create("ci", role="viewer").key
        'mk_...'
        """
        body = {"name": name, "role": role, "expires_in_days": expires_in_days}
        data = self._transport.json("POST", "/api/v1/api-keys", json=present(body))
        return self._one(ApiKeyCreated, data)

    def list(self, max_results: int | None = None) -> Iterator[ApiKey]:
        """Every key you may see, lazily.

        >>> [k.name for k in client.api_keys.list()]
        """
        return self._each(ApiKey, "/api/v1/api-keys", max_results=max_results)

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key at once; returns it with ``revoked_at`` set.

        >>> client.api_keys.revoke(key.id).revoked_at
        """
        data = self._transport.json("DELETE", f"/api/v1/api-keys/{segment(key_id)}")
        return self._one(ApiKey, data)
