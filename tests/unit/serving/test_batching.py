"""Micro-batching: merging, bounded batches, error isolation, a lone request never waits."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from maestro_ml.ml.model_io import PredictionOutput
from maestro_ml.serving.batching import MicroBatcher
from maestro_ml.serving.executor import ModelExecutor, split_output
from maestro_ml.serving.loop_bridge import in_bridge, run_on_loop, wait_for
from maestro_ml.serving.model_cache import ModelCache


def split_lists(output: list[Any], sizes: list[int]) -> list[list[Any]]:
    parts, start = [], 0
    for size in sizes:
        parts.append(output[start:start + size])
        start += size
    return parts


class GatedModel:
    """Doubles each row's ``x``; the first call blocks until ``gate`` opens."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.started = threading.Event()
        self.gate = threading.Event()

    def __call__(self, rows: list[dict[str, Any]]) -> list[int]:
        self.calls.append(len(rows))
        self.started.set()
        self.gate.wait(10)
        if any(row.get("bad") for row in rows):
            raise ValueError(f"bad row in a call of {len(rows)}")
        return [row["x"] * 2 for row in rows]


async def _wait_started(model: GatedModel) -> None:
    await asyncio.to_thread(model.started.wait, 10)


def test_a_lone_request_is_called_at_once_with_only_its_rows() -> None:
    model = GatedModel()
    model.gate.set()
    batcher: MicroBatcher[list[int]] = MicroBatcher(split_lists)

    async def scenario() -> list[int]:
        return await batcher.submit("m", model, [{"x": 1}, {"x": 2}])

    assert asyncio.run(scenario()) == [2, 4]
    assert model.calls == [2]
    assert batcher.stats().calls == 1


def test_requests_arriving_during_a_call_are_merged_into_the_next_one() -> None:
    model = GatedModel()
    sizes: list[int] = []
    batcher: MicroBatcher[list[int]] = MicroBatcher(split_lists, on_call=sizes.append)

    async def scenario() -> list[list[int]]:
        first = asyncio.ensure_future(batcher.submit("m", model, [{"x": 0}]))
        await _wait_started(model)
        rest = [asyncio.ensure_future(batcher.submit("m", model, [{"x": i}])) for i in range(1, 6)]
        await asyncio.sleep(0)
        model.gate.set()
        return await asyncio.gather(first, *rest)

    assert asyncio.run(scenario()) == [[0], [2], [4], [6], [8], [10]]
    assert model.calls == [1, 5]
    assert sizes == [1, 5]
    stats = batcher.stats()
    assert (stats.calls, stats.requests, stats.rows) == (2, 6, 6)


def test_batches_never_exceed_max_rows() -> None:
    model = GatedModel()
    batcher: MicroBatcher[list[int]] = MicroBatcher(split_lists, max_rows=3)

    async def scenario() -> list[list[int]]:
        first = asyncio.ensure_future(batcher.submit("m", model, [{"x": 0}]))
        await _wait_started(model)
        rest = [asyncio.ensure_future(batcher.submit("m", model, [{"x": i}])) for i in range(1, 6)]
        big = asyncio.ensure_future(batcher.submit("m", model, [{"x": 9}] * 4))
        await asyncio.sleep(0)
        model.gate.set()
        return await asyncio.gather(first, *rest, big)

    results = asyncio.run(scenario())
    assert results[-1] == [18] * 4
    # An oversized request still goes, alone; the others fill batches of at most 3 rows.
    assert model.calls == [1, 3, 2, 4]


def test_different_models_are_never_merged() -> None:
    first, second = GatedModel(), GatedModel()
    second.gate.set()
    batcher: MicroBatcher[list[int]] = MicroBatcher(split_lists)

    async def scenario() -> list[list[int]]:
        a = asyncio.ensure_future(batcher.submit("a", first, [{"x": 1}]))
        await _wait_started(first)
        # "b" is not held up by "a"'s running call.
        b = await batcher.submit("b", second, [{"x": 2}])
        first.gate.set()
        return [await a, b]

    assert asyncio.run(scenario()) == [[2], [4]]
    assert first.calls == [1] and second.calls == [1]


def test_a_failing_request_fails_alone_when_its_batch_fails() -> None:
    model = GatedModel()
    batcher: MicroBatcher[list[int]] = MicroBatcher(split_lists)

    async def scenario() -> list[Any]:
        first = asyncio.ensure_future(batcher.submit("m", model, [{"x": 0}]))
        await _wait_started(model)
        rows = [[{"x": 1}], [{"x": 2, "bad": True}], [{"x": 3}]]
        rest = [asyncio.ensure_future(batcher.submit("m", model, r)) for r in rows]
        await asyncio.sleep(0)
        model.gate.set()
        return await asyncio.gather(first, *rest, return_exceptions=True)

    results = asyncio.run(scenario())
    assert results[0] == [0] and results[1] == [2] and results[3] == [6]
    assert isinstance(results[2], ValueError) and "call of 1" in str(results[2])
    # The merged call of 3 failed, then each of its requests was called on its own.
    assert model.calls == [1, 3, 1, 1, 1]
    assert batcher.stats().fallbacks == 1


def test_split_output_cuts_predictions_and_probabilities() -> None:
    output = PredictionOutput(["a", "b", "c"], [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]], ["a", "b"])
    first, second = split_output(output, [1, 2])
    assert first == PredictionOutput(["a"], [[1.0, 0.0]], ["a", "b"])
    assert second == PredictionOutput(["b", "c"], [[0.0, 1.0], [0.5, 0.5]], ["a", "b"])
    regression = split_output(PredictionOutput([1.0, 2.0]), [1, 1])
    assert [part.probabilities for part in regression] == [None, None]


class Model:
    approx_bytes = 1

    def __init__(self) -> None:
        self.calls: list[int] = []

    def predict(self, rows: list[dict[str, Any]]) -> PredictionOutput:
        self.calls.append(len(rows))
        return PredictionOutput([row["x"] for row in rows])


def test_executor_batches_on_the_loop_and_calls_directly_elsewhere() -> None:
    executor = ModelExecutor(max_batch_rows=8)
    model = Model()
    assert executor.run("k", model, [{"x": 1}]).predictions == [1]  # type: ignore[arg-type]
    assert executor.batcher.stats().calls == 0

    async def scenario() -> list[PredictionOutput]:
        calls = [run_on_loop(executor.run, "k", model, [{"x": i}]) for i in range(20)]
        return await asyncio.gather(*calls)

    outputs = asyncio.run(scenario())
    assert [o.predictions for o in outputs] == [[i] for i in range(20)]
    assert sum(model.calls) == 21 and max(model.calls) <= 8
    assert executor.batcher.stats().calls == len(model.calls) - 1 < 20


def test_bridge_raises_errors_into_the_bridged_code() -> None:
    async def failing() -> None:
        raise KeyError("boom")

    def body() -> str:
        assert in_bridge()
        try:
            wait_for(failing())
        except KeyError:
            return "caught"
        return "not raised"

    assert not in_bridge()
    assert asyncio.run(run_on_loop(body)) == "caught"
    with pytest.raises(RuntimeError):
        wait_for(failing())


def test_a_model_cache_miss_on_the_loop_loads_in_a_worker_thread() -> None:
    cache: ModelCache[Model] = ModelCache(max_bytes=100)
    loaded_on: list[str] = []

    def load() -> Model:
        loaded_on.append(threading.current_thread().name)
        return Model()

    async def scenario() -> tuple[Model, Model]:
        first = await run_on_loop(cache.get, "v1", load)
        second = await run_on_loop(cache.get, "v1", load)
        return first, second

    first, second = asyncio.run(scenario())
    assert first is second and len(loaded_on) == 1
    assert loaded_on[0] != threading.main_thread().name
