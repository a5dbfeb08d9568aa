"""Where rate-limit counters live: Redis when configured and reachable, else process memory.

Both sides keep sliding-window counters (a count for the current fixed window and the
previous one, the previous weighted by how much of it still overlaps the sliding window —
the ``limits`` library's sliding-window-counter algorithm). Redis goes through ``limits``'
``RedisStorage`` (its Lua scripts, one round trip per operation). ``MemoryCounters`` is the
same algorithm in a dict: ``limits.storage.MemoryStorage`` costs 6-9 µs per operation (a
lock, an expiry-timer check, key building), too much for four tiers on the predict path.

A Redis error never fails a request and never switches limiting off: the call is answered
from the in-process counters (a warning is logged once per outage), and Redis is probed
again at most every ``probe_seconds``; when it answers, counting returns to it.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from limits.storage import RedisStorage

from maestro_ml.observability.metrics import observe_redis_error

log = logging.getLogger("maestro_ml.rate_limits")

T = TypeVar("T")
# (previous count, seconds the previous window still weighs, current count,
#  seconds until the current window's counter expires) — limits' get_sliding_window shape
Window = tuple[int, float, int, float]

# Short socket timeouts: a stalled Redis must cost a request milliseconds, not seconds.
REDIS_TIMEOUT_SECONDS = 0.25
SWEEP_SECONDS = 60.0


class MemoryCounters:
    """Sliding-window counters in one dict: key → [window index, previous, current, expiry]."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._counters: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        self._clock = clock
        self._next_sweep = clock() + SWEEP_SECONDS

    def acquire_sliding_window_entry(self, key: str, limit: int, expiry: int,
                                     amount: int = 1) -> bool:
        now = self._clock()
        with self._lock:
            entry = self._entry(key, expiry, now)
            previous_weight = 1.0 - (now / expiry) % 1.0
            if math.floor(entry[1] * previous_weight + entry[2]) + amount > limit:
                return False
            entry[2] += amount
        if now >= self._next_sweep:
            self._sweep(now)
        return True

    def get_sliding_window(self, key: str, expiry: int) -> Window:
        now = self._clock()
        with self._lock:
            entry = self._entry(key, expiry, now)
            into_window = (now / expiry) % 1.0
            previous_ttl = (1.0 - into_window) * expiry if entry[1] else 0.0
            return entry[1], previous_ttl, entry[2], (1.0 - into_window) * expiry + expiry

    def check(self) -> bool:
        return True

    def __len__(self) -> int:  # live counters: what the sweep keeps bounded
        return len(self._counters)

    def _entry(self, key: str, expiry: int, now: float) -> list[int]:
        index = int(now // expiry)
        entry = self._counters.get(key)
        if entry is None:
            entry = self._counters[key] = [index, 0, 0, expiry]
        elif entry[0] != index:  # roll over: the current window becomes the previous one
            entry[1] = entry[2] if entry[0] == index - 1 else 0
            entry[0], entry[2] = index, 0
        return entry

    def _sweep(self, now: float) -> None:
        """Forget counters two windows old (their weight is zero): bounded memory per IP."""
        with self._lock:
            self._next_sweep = now + SWEEP_SECONDS
            stale = [key for key, (index, _, _, expiry) in self._counters.items()
                     if index < int(now // expiry) - 1]
            for key in stale:
                del self._counters[key]


Storage = MemoryCounters | RedisStorage


class FailoverBackend:
    def __init__(
        self, redis_url: str | None, probe_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.memory = MemoryCounters()
        self.redis: RedisStorage | None = None
        if redis_url:
            self.redis = RedisStorage(
                redis_url, wrap_exceptions=True, key_prefix="maestro-rl",
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            )
        self.probe_seconds = probe_seconds
        self._clock = clock
        self._degraded = False
        self._next_probe = 0.0
        self._lock = threading.Lock()

    @property
    def active(self) -> str:
        """"redis" or "memory": where the next hit will be counted."""
        return "redis" if self.redis is not None and not self._degraded else "memory"

    def acquire(self, key: str, limit: int, expiry: int) -> bool:
        if self.redis is None:  # the common case, kept free of the failover machinery
            return self.memory.acquire_sliding_window_entry(key, limit, expiry)
        return self._call(lambda s: s.acquire_sliding_window_entry(key, limit, expiry, 1))

    def window(self, key: str, expiry: int) -> Window:
        if self.redis is None:
            return self.memory.get_sliding_window(key, expiry)
        return self._call(lambda s: s.get_sliding_window(key, expiry))

    def _call(self, op: Callable[[Storage], T]) -> T:
        redis = self.redis
        assert redis is not None
        if self._degraded and not self._probe():
            return op(self.memory)
        try:
            return op(redis)
        except Exception as exc:  # any client/storage failure: count in memory instead
            observe_redis_error("rate_limit")
            self._mark_down(exc)
            return op(self.memory)

    def _mark_down(self, exc: Exception) -> None:
        with self._lock:
            self._next_probe = self._clock() + self.probe_seconds
            if self._degraded:
                return
            self._degraded = True
        log.warning(
            "rate-limit storage Redis is unreachable (%s: %s); limiting in process memory "
            "until it answers again (probing every %.0f s)",
            type(exc).__name__, exc, self.probe_seconds,
        )

    def _probe(self) -> bool:
        """While degraded: True when Redis answers again; only one caller probes at a time."""
        with self._lock:
            if self._clock() < self._next_probe:
                return False
            self._next_probe = self._clock() + self.probe_seconds
        assert self.redis is not None
        if not self.redis.check():  # ping; False (never raises) when unreachable
            return False
        with self._lock:
            self._degraded = False
        log.warning("rate-limit storage Redis is reachable again; limiting through Redis")
        return True
