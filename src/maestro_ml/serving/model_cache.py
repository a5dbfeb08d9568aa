"""The in-process model cache: loaded models kept by key, least recently used out first.

The budget is in bytes (each value reports its own ``approx_bytes``). Models load lazily on
first use, outside the cache's lock, and only once however many requests ask at the same
time: the first caller loads, the others wait for its result (single flight). A failed load
is not cached, so the next request tries again, and every waiter of that load sees the
same error.

A model bigger than the whole budget is still kept, alone: evicting it right away would
reload it on every request, which is worse than briefly exceeding the budget.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from maestro_ml.observability.metrics import observe_model_cache, set_model_cache_bytes

from .heap import freeze_long_lived
from .loop_bridge import in_bridge, wait_for


class Sized(Protocol):
    @property
    def approx_bytes(self) -> int: ...


V = TypeVar("V", bound=Sized)


@dataclass(frozen=True)
class CacheStats:
    hits: int
    misses: int
    loads: int
    load_failures: int
    evictions: int
    entries: int
    bytes: int
    max_bytes: int


class _Flight:
    """One load in progress; waiters block on ``done``."""

    __slots__ = ("done", "value", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: object = None
        self.error: BaseException | None = None


class ModelCache(Generic[V]):
    """LRU cache by bytes with single-flight loading; safe to share between threads.

    >>> cache = ModelCache(max_bytes=2 * 1024**3)
    >>> model = cache.get("version-id", lambda: load_model("/models/churn/v3"))  # doctest: +SKIP
    """

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must not be negative")
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._flights: dict[Hashable, _Flight] = {}
        self._bytes = 0
        self._lock = threading.Lock()
        self._hits = self._misses = self._loads = self._failures = self._evictions = 0

    def get(self, key: Hashable, load: Callable[[], V]) -> V:
        """The cached value for ``key``, loading it with ``load()`` on a miss."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                self._hits += 1
                observe_model_cache("hit")
                return entry[0]
            bridged = in_bridge()
            if not bridged:
                self._misses += 1
                observe_model_cache("miss")
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None and not bridged:
                flight = self._flights[key] = _Flight()
        if bridged:
            # On the event loop: load (or wait for the load) in a worker thread, not here.
            return wait_for(asyncio.to_thread(self.get, key, load))
        assert flight is not None  # noqa: S101 - set above whenever not bridged
        if leader:
            return self._load(key, load, flight)
        flight.done.wait()
        if flight.error is not None:
            raise flight.error
        return flight.value  # type: ignore[return-value]

    def peek(self, key: Hashable) -> V | None:
        """The cached value without loading or touching its recency, or None."""
        with self._lock:
            entry = self._entries.get(key)
            return entry[0] if entry is not None else None

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._entries

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def invalidate(self, key: Hashable) -> bool:
        """Drop ``key``; True when it was cached. A load in flight still completes."""
        with self._lock:
            entry = self._entries.pop(key, None)
            if entry is None:
                return False
            self._bytes -= entry[1]
            set_model_cache_bytes(self._bytes)
            return True

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0
            set_model_cache_bytes(0)

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(
                hits=self._hits, misses=self._misses, loads=self._loads,
                load_failures=self._failures, evictions=self._evictions,
                entries=len(self._entries), bytes=self._bytes, max_bytes=self.max_bytes,
            )

    # -- internals ------------------------------------------------------------------------
    def _load(self, key: Hashable, load: Callable[[], V], flight: _Flight) -> V:
        try:
            value = load()
            size = max(0, int(value.approx_bytes))
        except BaseException as exc:
            with self._lock:
                self._failures += 1
                del self._flights[key]
            flight.error = exc
            flight.done.set()
            raise
        with self._lock:
            self._loads += 1
            del self._flights[key]
            self._insert(key, value, size)
        freeze_long_lived(collect=False)  # the model's objects: out of full GC passes
        flight.value = value
        flight.done.set()
        return value

    def _insert(self, key: Hashable, value: V, size: int) -> None:
        previous = self._entries.pop(key, None)
        if previous is not None:
            self._bytes -= previous[1]
        self._entries[key] = (value, size)
        self._bytes += size
        # The newcomer is the most recent entry, so it is never the one evicted here.
        while self._bytes > self.max_bytes and len(self._entries) > 1:
            _, evicted_size = self._entries.pop(next(iter(self._entries)))
            self._bytes -= evicted_size
            self._evictions += 1
            observe_model_cache("eviction")
        set_model_cache_bytes(self._bytes)
