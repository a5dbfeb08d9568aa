"""Running synchronous use-case code on the event loop, with its waits handed to the loop.

The predict use case is plain synchronous code, shared by the HTTP handlers, the OIP v2
endpoint and the CLI. Running it in a worker thread per request costs a thread hop and,
under many connections, GIL contention between dozens of threads and the event loop.
``run_on_loop(fn)`` runs it instead in a greenlet on the event loop thread; where the code
reaches something that waits (the micro-batcher's model call, a model load), that code calls
``wait_for(awaitable)`` and the greenlet is suspended while the loop serves other requests
— the technique SQLAlchemy's asyncio layer uses. Outside ``run_on_loop`` (worker threads,
the CLI) ``in_bridge()`` is False and callers take their ordinary blocking path.

Only code that knows it may run here calls ``wait_for``; anything else that blocks would
block the loop, so callers use ``run_on_loop`` only for work whose slow parts are bridged.
"""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import greenlet

T = TypeVar("T")


class _BridgedGreenlet(greenlet.greenlet):  # type: ignore[misc]
    """A greenlet whose switches back to its parent carry awaitables for the loop."""

    bridged = True


async def run_on_loop(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` on this event loop; its ``wait_for`` calls await on the loop."""
    child = _BridgedGreenlet(fn, greenlet.getcurrent())
    # The caller's context variables (request-scoped state, tracing) stay visible inside.
    child.gr_context = contextvars.copy_context()
    result: Any = child.switch(*args)
    while not child.dead:
        try:
            value = await result
        except BaseException:  # handed to the waiting code, which decides what to do
            result = child.throw(*sys.exc_info())
        else:
            result = child.switch(value)
    return result  # type: ignore[no-any-return]


def in_bridge() -> bool:
    """Whether the current code runs inside ``run_on_loop`` (and so may call ``wait_for``)."""
    return getattr(greenlet.getcurrent(), "bridged", False)


def wait_for(awaitable: Awaitable[T]) -> T:
    """Suspend the bridged code until ``awaitable`` completes on the loop; its result."""
    current = greenlet.getcurrent()
    if not getattr(current, "bridged", False):
        close = getattr(awaitable, "close", None)
        if close is not None:  # a coroutine that will never run: no "never awaited" warning
            close()
        raise RuntimeError("wait_for is only usable inside run_on_loop")
    return current.parent.switch(awaitable)  # type: ignore[no-any-return]
