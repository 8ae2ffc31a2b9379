"""The one way the tests wait for something to become true."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

Message = str | Callable[[], str]


def _fail(message: Message, timeout: float) -> AssertionError:
    text = message() if callable(message) else message
    return AssertionError(f"{text} (waited {timeout} s)")


def wait_until(
    predicate: Callable[[], T],
    timeout: float,
    interval: float = 0.05,
    message: Message = "condition not met",
    sleep: Callable[[float], object] = time.sleep,
) -> T:
    """Call ``predicate`` every ``interval`` seconds until it returns something truthy, and
    return that. After ``timeout`` seconds, fail with ``message`` (a string, or a callable
    for one that describes the state at the time). ``sleep`` waits between calls: Playwright
    pages pass one that lets the page's events through."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise _fail(message, timeout)
        sleep(interval)


async def wait_until_async(
    predicate: Callable[[], T],
    timeout: float,
    interval: float = 0.05,
    message: Message = "condition not met",
) -> T:
    """:func:`wait_until` for coroutines: the event loop runs between calls."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise _fail(message, timeout)
        await asyncio.sleep(interval)
