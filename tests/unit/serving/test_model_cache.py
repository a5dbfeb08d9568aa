"""The model cache: LRU by bytes, lazy single-flight loading, failures not cached."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from maestro_ml.serving.model_cache import ModelCache


@dataclass
class Blob:
    name: str
    approx_bytes: int


class Loader:
    """Counts calls; optionally slow or failing."""

    def __init__(self, size: int = 10, delay: float = 0.0, fail: bool = False) -> None:
        self.size, self.delay, self.fail = size, delay, fail
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, key: str):
        def load() -> Blob:
            with self._lock:
                self.calls.append(key)
            time.sleep(self.delay)
            if self.fail:
                raise ValueError(f"cannot load {key}")
            return Blob(key, self.size)

        return load


def test_second_get_is_a_hit_without_loading():
    cache, loader = ModelCache(100), Loader()

    first = cache.get("a", loader("a"))
    second = cache.get("a", loader("a"))

    assert first is second and loader.calls == ["a"]
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.loads, stats.bytes) == (1, 1, 1, 10)


def test_least_recently_used_is_evicted_when_over_budget():
    cache, loader = ModelCache(30), Loader(size=10)
    for key in "abc":
        cache.get(key, loader(key))
    cache.get("a", loader("a"))  # a is now the most recent, b the least

    cache.get("d", loader("d"))

    assert "b" not in cache and all(key in cache for key in "acd")
    assert cache.stats().bytes == 30 and cache.stats().evictions == 1


def test_a_big_model_evicts_as_many_as_needed():
    cache = ModelCache(30)
    for key in "abc":
        cache.get(key, Loader(size=10)(key))

    cache.get("big", Loader(size=25)("big"))

    assert [key for key in ("a", "b", "c", "big") if key in cache] == ["big"]
    assert cache.stats().bytes == 25


def test_a_model_larger_than_the_budget_is_kept_alone():
    cache = ModelCache(30)
    cache.get("a", Loader(size=10)("a"))

    cache.get("huge", Loader(size=50)("huge"))

    assert "huge" in cache and "a" not in cache and len(cache) == 1


def test_concurrent_first_requests_load_once():
    cache, loader = ModelCache(100), Loader(delay=0.2)
    start = threading.Barrier(16)

    def request(_: int) -> Blob:
        start.wait()
        return cache.get("model", loader("model"))

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(request, range(16)))

    assert loader.calls == ["model"]
    assert all(result is results[0] for result in results)
    assert cache.stats().loads == 1


def test_different_keys_load_in_parallel():
    cache, loader = ModelCache(100), Loader(delay=0.3)
    began = time.monotonic()

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda key: cache.get(key, loader(key)), "abcd"))

    # Four loads of 0.3 s each one after the other would take 1.2 s.
    assert time.monotonic() - began < 1.0
    assert sorted(loader.calls) == list("abcd")


def test_a_failed_load_reaches_every_waiter_and_is_retried_next_time():
    cache, failing = ModelCache(100), Loader(delay=0.2, fail=True)
    start = threading.Barrier(4)

    def request(_: int) -> str:
        start.wait()
        try:
            cache.get("model", failing("model"))
        except ValueError as exc:
            return str(exc)
        return "loaded"

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(request, range(4)))

    assert outcomes == ["cannot load model"] * 4
    assert failing.calls == ["model"] and "model" not in cache
    assert cache.get("model", Loader()("model")).name == "model"
    assert cache.stats().load_failures == 1


def test_invalidate_and_clear_free_the_bytes():
    cache, loader = ModelCache(100), Loader(size=10)
    cache.get("a", loader("a"))
    cache.get("b", loader("b"))

    assert cache.invalidate("a") is True and cache.invalidate("a") is False
    assert cache.stats().bytes == 10 and cache.peek("a") is None
    cache.clear()
    assert len(cache) == 0 and cache.stats().bytes == 0


def test_negative_budget_is_refused():
    with pytest.raises(ValueError, match="max_bytes"):
        ModelCache(-1)
