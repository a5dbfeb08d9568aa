"""Cross-replica route invalidation through Redis publish/subscribe.

Every replica caches deployment routes (``route_table``). When one replica changes a
deployment it drops its own entries and publishes ``(tenant, deployment | key)`` on a Redis
channel; a subscriber thread in every replica drops the same entries from its table, so
the next prediction anywhere uses the new configuration instead of waiting for the TTL.

Redis is optional and may fail: a failed publish or a lost subscription is logged once
(and again when it recovers) and the routes' TTL keeps bounding staleness. After the
subscription comes back the whole table is cleared, since messages sent meanwhile are lost.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

import redis

from .route_table import RouteTable

log = logging.getLogger(__name__)

DEFAULT_CHANNEL = "maestro:route-invalidation"
RETRY_SECONDS = 2.0


class RedisRouteInvalidation:
    """Publishes this replica's route changes and applies the other replicas' ones."""

    def __init__(
        self, url: str, table: RouteTable, channel: str = DEFAULT_CHANNEL,
        connect: Callable[[str], Any] | None = None,
    ) -> None:
        self.channel = channel
        self.origin = uuid.uuid4().hex
        self.received = 0
        self._table = table
        self._connect = connect or _connect
        self._publisher = self._connect(url)
        self._url = url
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._publish_failing = False
        self._subscribed = threading.Event()
        table.broadcast_to(self.publish)

    def publish(self, tenant_id: str, deployment_id: str | None, key: str | None) -> None:
        message = json.dumps(
            {"origin": self.origin, "tenant": tenant_id, "deployment": deployment_id, "key": key}
        )
        try:
            self._publisher.publish(self.channel, message)
        except redis.RedisError as exc:
            if not self._publish_failing:
                log.warning("route invalidation not published (Redis: %s); other replicas "
                            "pick the change up within the route TTL", exc)
            self._publish_failing = True
            return
        if self._publish_failing:
            log.info("route invalidation publishing works again")
        self._publish_failing = False

    def apply(self, raw: bytes | str) -> None:
        """Drop what one message names (messages from this replica are already applied)."""
        try:
            message = json.loads(raw)
            tenant, deployment, key = message["tenant"], message["deployment"], message["key"]
            origin = message["origin"]
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed route invalidation message")
            return
        if origin == self.origin:
            return
        self.received += 1
        if deployment is not None:
            self._table.invalidate(str(tenant), str(deployment), broadcast=False)
        if key is not None:
            self._table.discard(str(tenant), str(key), broadcast=False)

    def wait_subscribed(self, timeout: float) -> bool:
        return self._subscribed.wait(timeout)

    # -- background component (started and stopped with the app) -------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._listen, name="maestro-route-invalidation", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _listen(self) -> None:
        failing = False
        while not self._stop.is_set():
            try:
                self._listen_once(recovering=failing)
                return
            except redis.RedisError as exc:
                self._subscribed.clear()
                if not failing:
                    log.warning("route invalidation subscription lost (Redis: %s); routes "
                                "fall back to their TTL until it is back", exc)
                failing = True
                self._stop.wait(RETRY_SECONDS)

    def _listen_once(self, *, recovering: bool) -> None:
        client = self._connect(self._url)
        pubsub = client.pubsub()
        try:
            pubsub.subscribe(self.channel)
            if recovering:
                self._table.clear()  # what was published while we were away is lost
                log.info("route invalidation subscription restored")
            while not self._stop.is_set():
                message = pubsub.get_message(timeout=1.0)
                if message is None:
                    continue
                if message.get("type") == "subscribe":
                    self._subscribed.set()  # Redis confirmed: nothing published is missed
                elif message.get("type") == "message":
                    self.apply(message["data"])
        finally:
            pubsub.close()
            client.close()


def _connect(url: str) -> Any:
    # Short timeouts: a publish runs inside a deployment change and must not hang on Redis.
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=1)
