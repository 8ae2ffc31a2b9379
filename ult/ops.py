"""One operation, two ways to run it.

Core functions build an :class:`Op` — one Redis command or one Lua script call plus the
function that turns the reply into a result — and never touch a connection. ``run`` executes
it on a synchronous ``redis.Redis`` (CLI, dashboard, notebooks); ``arun`` on a
``redis.asyncio.Redis``; :class:`AutoPipeline` sends the ops of one event-loop tick together
(the scan service). So the logic is written once.

A *batch* script (``scan``) takes any number of calls in one: its KEYS and ARGV are the
concatenation of each call's own, and it answers one reply per call. One call of it carries
all the scans of a tick, so the per-command cost of the client is paid once per tick.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Generic, TypeVar, cast

import redis
import redis.asyncio
from redis.crc import key_slot
from redis.typing import StreamRangeResponse

from ult import schema
from ult.connection import AsyncClient, Client

T = TypeVar("T")

BATCH_SCRIPTS = frozenset({"scan"})  # scripts that take several calls at once (see above)


@cache
def script_source(name: str) -> tuple[str, str]:
    """(source, sha1) of ``ult/lua/<name>.lua``, with the shared ``lib.lua`` and, before
    both, the header generated from ``ult.schema`` (field codes, card record, reply shapes)
    prepended."""
    lua = resources.files("ult").joinpath("lua")
    code = lua.joinpath("lib.lua").read_text() + lua.joinpath(f"{name}.lua").read_text()
    source = schema.lua_header(code) + code
    return source, hashlib.sha1(source.encode()).hexdigest()


@dataclass(slots=True)
class Op(Generic[T]):
    """A Redis command (``command``) or a Lua script call (``script``, ``keys``, ``args``)."""

    parse: Callable[[Any], T]
    command: Sequence[Any] = ()
    script: str = ""
    keys: Sequence[str] = ()
    args: Sequence[Any] = ()

    @property
    def batch(self) -> bool:
        return self.script in BATCH_SCRIPTS


def command(parse: Callable[[Any], T], *cmd: Any) -> Op[T]:
    return Op(parse=parse, command=cmd)


def script(name: str, keys: Sequence[str], args: Sequence[Any], parse: Callable[[Any], T]) -> Op[T]:
    return Op(parse=parse, script=name, keys=keys, args=args)


def _single(op: Op[Any], reply: Any) -> Any:
    """The reply of one call: a batch script answers a list of one (or an error in it)."""
    if not op.batch:
        return reply
    if isinstance(reply[0], Exception):
        raise reply[0]
    return reply[0]


def parse_reply(op: Op[T], reply: Any) -> T:
    """``op``'s result from its raw reply (e.g. from a pipeline of several ops)."""
    return op.parse(_single(op, reply))


def queue(pipe: Any, op: Op[Any]) -> None:
    """Add ``op`` to a pipeline, plain or cluster (its scripts loaded beforehand:
    :func:`load`); read each reply back with :func:`parse_reply`."""
    _queue(pipe, op, op.keys, op.args)


def _queue(pipe: Any, op: Op[Any], keys: Sequence[Any], args: Sequence[Any]) -> None:
    if op.script:
        _, sha = script_source(op.script)
        # not pipe.evalsha(): cluster pipelines refuse it; the raw command routes by its key
        pipe.execute_command("EVALSHA", sha, len(keys), *keys, *args)
    else:
        pipe.execute_command(*op.command)


def load(r: Client, *names: str) -> None:
    """Load scripts into the server's script cache, so pipelined EVALSHAs find them."""
    for name in names:
        r.script_load(script_source(name)[0])


def run(r: Client, op: Op[T]) -> T:
    """Execute ``op`` on a synchronous client."""
    if not op.script:
        return op.parse(r.execute_command(*op.command))
    source, sha = script_source(op.script)
    try:
        reply = r.evalsha(sha, len(op.keys), *op.keys, *op.args)
    except redis.exceptions.NoScriptError:
        reply = r.eval(source, len(op.keys), *op.keys, *op.args)
    return parse_reply(op, reply)


async def arun(r: AsyncClient, op: Op[T]) -> T:
    """Execute ``op`` on an asyncio client."""
    if not op.script:
        return op.parse(await r.execute_command(*op.command))
    source, sha = script_source(op.script)
    try:
        reply = await r.evalsha(sha, len(op.keys), *op.keys, *op.args)
    except redis.exceptions.NoScriptError:
        reply = await r.eval(source, len(op.keys), *op.keys, *op.args)
    return parse_reply(op, reply)


def text(value: Any) -> str:
    """A reply value as str (clients may or may not decode responses)."""
    if isinstance(value, bytes):
        return value.decode()
    return "" if value is None else str(value)


def as_dict(reply: Any) -> dict[str, str]:
    """A hash as text: an ``HGETALL`` reply (a dict from redis-py, or ``[k1, v1, k2, v2]``
    from a script) → ``{k1: v1, k2: v2}``."""
    if isinstance(reply, dict):
        return {text(k): text(v) for k, v in reply.items()}
    return {text(reply[i]): text(reply[i + 1]) for i in range(0, len(reply), 2)}


StreamEntries = list[tuple[Any, dict[Any, Any]]]  # [(id, {field: value})], text or bytes


def entries(reply: StreamRangeResponse | None) -> StreamEntries:
    """An ``XRANGE``/``XREVRANGE`` reply, typed as it comes: redis-py's types allow None for
    the reply and for an entry's fields (deleted entries, from ``XCLAIM``), which these
    commands never answer (a missing stream gives ``[]``)."""
    return cast(StreamEntries, reply)


Pending = tuple[Op[Any], asyncio.Future[Any]]


@dataclass
class Call:
    """One command of a pipeline and the callers its reply goes to (several for a batch)."""

    op: Op[Any]
    futures: list[asyncio.Future[Any]]
    keys: list[Any]
    args: list[Any]

    @property
    def first_key(self) -> str | None:
        """The key the command is routed by on a cluster."""
        if self.op.script:
            return self.keys[0] if self.keys else None
        return str(self.op.command[1]) if len(self.op.command) > 1 else None

    def queue(self, pipe: Any) -> None:
        """Add the command to ``pipe``."""
        _queue(pipe, self.op, self.keys, self.args)


class AutoPipeline:
    """Runs ops on an asyncio client, sending all ops started in one event-loop tick as one
    pipeline — and all calls of a batch script as one call of it: one write and one read for
    many concurrent scans, instead of one each.

    Results and errors reach each caller as if it had run alone (:func:`arun`).
    """

    def __init__(self, r: AsyncClient) -> None:
        self.r = r
        self._pending: list[Pending] = []
        self._tasks: set[asyncio.Task[None]] = set()  # keeps running batches referenced
        self.cluster = isinstance(r, redis.asyncio.RedisCluster)

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
        task = asyncio.ensure_future(self._send(_calls(batch, self.cluster)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def execute(self, pipe: Any, calls: list[Call]) -> list[Any]:
        """Send one tick's pipeline: a reply (or exception) per call. Subclasses add to it
        (``ult.replicas`` waits for replicas here)."""
        return await pipe.execute(raise_on_error=False)

    async def _send(self, calls: list[Call]) -> None:
        pipe = self.r.pipeline(transaction=False)
        for call in calls:
            call.queue(pipe)
        try:
            replies = await self.execute(pipe, calls)
        except Exception as e:  # the connection failed: every caller gets the error
            for call in calls:
                _answer(call.futures, e)
            return
        for call, reply in zip(calls, replies, strict=True):
            if isinstance(reply, redis.exceptions.NoScriptError):
                try:  # first use of the script on this server (or after SCRIPT FLUSH)
                    source, _ = script_source(call.op.script)
                    n = len(call.keys)
                    reply = await self.r.eval(source, n, *call.keys, *call.args)
                except Exception as e:
                    reply = e
            if call.op.batch and not isinstance(reply, Exception):
                for future, one in zip(call.futures, reply, strict=True):
                    _answer([future], one)
            else:
                _answer(call.futures, reply)


def _calls(batch: list[Pending], cluster: bool = False) -> list[Call]:
    """The pipeline's commands: each op alone, except the calls of one batch script, joined
    (on a cluster, joined per slot: one script may touch one slot only)."""
    calls: list[Call] = []
    joined: dict[tuple[str, int], Call] = {}
    for op, future in batch:
        if not op.batch:
            calls.append(Call(op, [future], list(op.keys), list(op.args)))
            continue
        group = (op.script, key_slot(str(op.keys[0]).encode()) if cluster and op.keys else 0)
        if group in joined:
            call = joined[group]
            call.futures.append(future)
            call.keys.extend(op.keys)
            call.args.extend(op.args)
        else:
            call = joined[group] = Call(op, [future], list(op.keys), list(op.args))
            calls.append(call)
    return calls


def _answer(futures: list[asyncio.Future[Any]], reply: Any) -> None:
    """Give ``reply`` (a value or an exception) to every caller still waiting."""
    for future in futures:
        if future.done():  # the caller went away
            continue
        if isinstance(reply, Exception):
            future.set_exception(reply)
        else:
            future.set_result(reply)
