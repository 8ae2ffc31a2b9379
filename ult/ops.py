"""One operation, two ways to run it.

Core functions build an :class:`Op` — one Redis command or one Lua script call plus the
function that turns the reply into a result — and never touch a connection. ``run`` executes
it on a synchronous ``redis.Redis`` (CLI, dashboard, notebooks); ``arun`` on a
``redis.asyncio.Redis`` (the scan service). So the logic is written once.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Generic, TypeVar

import redis
import redis.asyncio

T = TypeVar("T")


@cache
def script_source(name: str) -> tuple[str, str]:
    """(source, sha1) of ``ult/lua/<name>.lua``, with the shared ``lib.lua`` prepended."""
    lua = resources.files("ult").joinpath("lua")
    source = lua.joinpath("lib.lua").read_text() + lua.joinpath(f"{name}.lua").read_text()
    return source, hashlib.sha1(source.encode()).hexdigest()


@dataclass(frozen=True)
class Op(Generic[T]):
    """A Redis command (``command``) or a Lua script call (``script``, ``keys``, ``args``)."""

    parse: Callable[[Any], T]
    command: Sequence[Any] = ()
    script: str = ""
    keys: Sequence[str] = ()
    args: Sequence[Any] = ()


def command(parse: Callable[[Any], T], *cmd: Any) -> Op[T]:
    return Op(parse=parse, command=cmd)


def script(name: str, keys: Sequence[str], args: Sequence[Any], parse: Callable[[Any], T]) -> Op[T]:
    return Op(parse=parse, script=name, keys=keys, args=args)


def run(r: redis.Redis, op: Op[T]) -> T:
    """Execute ``op`` on a synchronous client."""
    if not op.script:
        return op.parse(r.execute_command(*op.command))
    source, sha = script_source(op.script)
    try:
        reply = r.evalsha(sha, len(op.keys), *op.keys, *op.args)
    except redis.exceptions.NoScriptError:
        reply = r.eval(source, len(op.keys), *op.keys, *op.args)
    return op.parse(reply)


async def arun(r: redis.asyncio.Redis, op: Op[T]) -> T:
    """Execute ``op`` on an asyncio client."""
    if not op.script:
        return op.parse(await r.execute_command(*op.command))
    source, sha = script_source(op.script)
    try:
        reply = await r.evalsha(sha, len(op.keys), *op.keys, *op.args)
    except redis.exceptions.NoScriptError:
        reply = await r.eval(source, len(op.keys), *op.keys, *op.args)
    return op.parse(reply)


def text(value: Any) -> str:
    """A reply value as str (clients may or may not decode responses)."""
    if isinstance(value, bytes):
        return value.decode()
    return "" if value is None else str(value)


def pairs(flat: Sequence[Any]) -> dict[str, str]:
    """``[k1, v1, k2, v2]`` → ``{k1: v1, k2: v2}`` as text."""
    return {text(flat[i]): text(flat[i + 1]) for i in range(0, len(flat), 2)}


def queue(pipe: Any, op: Op[Any]) -> None:
    """Add ``op`` to a (plain or cluster) pipeline."""
    if op.script:
        _, sha = script_source(op.script)
        # not pipe.evalsha(): cluster pipelines refuse it; the raw command routes by key
        pipe.execute_command("EVALSHA", sha, len(op.keys), *op.keys, *op.args)
    else:
        pipe.execute_command(*op.command)


class AutoPipeline:
    """Runs ops on an asyncio client, sending all ops started in one event-loop tick as one
    pipeline: one write and one read for many concurrent scans, instead of one each.

    Results and errors reach each caller as if it had run alone (:func:`arun`).
    """

    def __init__(self, r: redis.asyncio.Redis) -> None:
        self.r = r
        self._pending: list[tuple[Op[Any], asyncio.Future[Any]]] = []
        self._tasks: set[asyncio.Task[None]] = set()  # keeps running batches referenced

    async def run(self, op: Op[T]) -> T:
        """Execute ``op`` in the next batch and parse its reply."""
        loop = asyncio.get_running_loop()
        if not self._pending:
            loop.call_soon(self._flush)
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((op, future))
        return op.parse(await future)

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        task = asyncio.ensure_future(self._send(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def execute(self, pipe: Any, ops: list[Op[Any]]) -> list[Any]:
        """Send one batch's pipeline: a reply (or exception) per op. Subclasses add to it
        (``ult.replicas`` waits for replicas here)."""
        return await pipe.execute(raise_on_error=False)

    async def _send(self, batch: list[tuple[Op[Any], asyncio.Future[Any]]]) -> None:
        pipe = self.r.pipeline(transaction=False)
        for op, _ in batch:
            queue(pipe, op)
        try:
            replies = await self.execute(pipe, [op for op, _ in batch])
        except Exception as e:  # the connection failed: every caller gets the error
            for _, future in batch:
                if not future.done():
                    future.set_exception(e)
            return
        for (op, future), reply in zip(batch, replies, strict=True):
            if isinstance(reply, redis.exceptions.NoScriptError):
                try:  # first use of the script on this server (or after SCRIPT FLUSH)
                    source, _ = script_source(op.script)
                    reply = await self.r.eval(source, len(op.keys), *op.keys, *op.args)
                except Exception as e:
                    reply = e
            if future.done():  # the caller went away
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)
