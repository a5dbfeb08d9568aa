"""Adaptive micro-batching: concurrent requests for the same model merge into one model call.

A model call has a fixed cost (the Python around it, the trees' dispatch, a thread hop)
that dwarfs the per-row work for small inputs, so under concurrency many one-row calls are
much slower than one call with many rows. Requests for one key queue in a *lane*; the lane
runs at most one model call at a time, in a worker thread, and each call takes everything
queued so far, up to ``max_rows`` rows. So:

- a lone request never waits: an idle lane starts its call at once;
- a request that arrives while a call runs waits at most for that call, then rides with
  the others that arrived meanwhile (the batch size adapts to the load, no timer);
- a batch that fails is retried request by request, so each request gets its own result
  or its own error and one bad row set never fails its neighbours.

Everything here runs on the event loop; the model calls go to a small thread pool, or with
``threads=0`` run on the loop itself (no thread hop and no GIL hand-over, at the price of
the loop pausing during each call; requests that arrive meanwhile form the next batch).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

Row = dict[str, Any]
Out = TypeVar("Out")

PredictFn = Callable[[list[Row]], Out]
SplitFn = Callable[[Out, list[int]], list[Out]]


@dataclass(slots=True)
class _Request(Generic[Out]):
    rows: list[Row]
    future: asyncio.Future[Out]


@dataclass(slots=True)
class _Lane(Generic[Out]):
    queue: deque[_Request[Out]] = field(default_factory=deque)
    running: bool = False


@dataclass(frozen=True, slots=True)
class BatchStats:
    calls: int
    requests: int
    rows: int
    fallbacks: int


class MicroBatcher(Generic[Out]):
    """Merges concurrent ``submit`` calls per key into bounded batches.

    ``split(output, sizes)`` cuts one call's output back into per-request outputs;
    ``on_call(rows)`` is told the size of every model call (for metrics).
    """

    def __init__(
        self, split: SplitFn[Out], *, max_rows: int = 256, threads: int = 4,
        on_call: Callable[[int], None] | None = None,
    ) -> None:
        if max_rows < 1:
            raise ValueError("max_rows must be at least 1")
        self.max_rows = max_rows
        self._split = split
        self._on_call = on_call
        self._lanes: dict[Hashable, _Lane[Out]] = {}
        self._pool = (
            ThreadPoolExecutor(threads, thread_name_prefix="maestro-model") if threads else None
        )
        self._calls = self._requests = self._rows = self._fallbacks = 0

    async def submit(self, key: Hashable, predict: PredictFn[Out], rows: list[Row]) -> Out:
        """``predict(rows)``, possibly merged with other requests for ``key``."""
        loop = asyncio.get_running_loop()
        request = _Request(rows, loop.create_future())
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane()
        lane.queue.append(request)
        if not lane.running:
            lane.running = True
            loop.create_task(self._drain(key, lane, predict))
        return await request.future

    def stats(self) -> BatchStats:
        return BatchStats(self._calls, self._requests, self._rows, self._fallbacks)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    async def _call(self, predict: PredictFn[Out], rows: list[Row]) -> Out:
        if self._pool is None:
            return predict(rows)
        return await asyncio.get_running_loop().run_in_executor(self._pool, predict, rows)

    async def _drain(self, key: Hashable, lane: _Lane[Out], predict: PredictFn[Out]) -> None:
        try:
            while lane.queue:
                await self._run_batch(self._take(lane), predict)
        finally:
            lane.running = False
            if not lane.queue:
                self._lanes.pop(key, None)

    def _take(self, lane: _Lane[Out]) -> list[_Request[Out]]:
        batch = [lane.queue.popleft()]  # the first request goes even when it is over the cap
        rows = len(batch[0].rows)
        while lane.queue and rows + len(lane.queue[0].rows) <= self.max_rows:
            request = lane.queue.popleft()
            rows += len(request.rows)
            batch.append(request)
        return batch

    async def _run_batch(self, batch: list[_Request[Out]], predict: PredictFn[Out]) -> None:
        live = [request for request in batch if not request.future.done()]  # cancelled ones
        if not live:
            return
        sizes = [len(request.rows) for request in live]
        merged = live[0].rows if len(live) == 1 else [row for r in live for row in r.rows]
        self._count(len(live), len(merged))
        try:
            output = await self._call(predict, merged)
            parts = [output] if len(live) == 1 else self._split(output, sizes)
        except Exception as exc:
            if len(live) == 1:
                _settle(live[0], error=exc)
                return
            self._fallbacks += 1
            await self._one_by_one(live, predict)
            return
        for request, part in zip(live, parts, strict=True):
            _settle(request, value=part)

    async def _one_by_one(self, batch: list[_Request[Out]], predict: PredictFn[Out]) -> None:
        for request in batch:
            self._count(1, len(request.rows))
            try:
                value = await self._call(predict, request.rows)
            except Exception as exc:
                _settle(request, error=exc)
            else:
                _settle(request, value=value)

    def _count(self, requests: int, rows: int) -> None:
        self._calls += 1
        self._requests += requests
        self._rows += rows
        if self._on_call is not None:
            self._on_call(rows)


def _settle(request: _Request[Out], *, value: Any = None, error: Exception | None = None) -> None:
    if request.future.done():  # the caller went away (client disconnected)
        return
    if error is not None:
        request.future.set_exception(error)
    else:
        request.future.set_result(value)
