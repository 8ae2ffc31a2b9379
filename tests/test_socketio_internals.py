"""What ult.service relies on inside python-socketio and python-engineio, beyond their
public API: the methods it overrides or calls and the attributes it reads. pyproject.toml
bounds both versions; a release that moves any of these fails here, not in production."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable

import engineio
import pytest
import socketio
from engineio.async_socket import AsyncSocket
from socketio.async_pubsub_manager import AsyncPubSubManager

from ult.service.app import BoundedRedisManager
from ult.service.cluster_manager import AsyncClusterManager, ClusterWriteManager
from ult.service.strict import StrictServer


def params(fn: Callable) -> list[tuple[str, object]]:
    """``fn``'s parameters as (name, default), ``self`` included."""
    return [(p.name, p.default) for p in inspect.signature(fn).parameters.values()]


EMPTY = inspect.Parameter.empty

# (class, method, its parameters as python-socketio declares them)
OVERRIDDEN_OR_CALLED = [
    # StrictServer reads every Engine.IO message itself, then hands packets back
    (
        socketio.AsyncServer,
        "_handle_eio_message",
        [("self", EMPTY), ("eio_sid", EMPTY), ("data", EMPTY)],
    ),  # fmt: skip
    (
        socketio.AsyncServer,
        "_handle_event",
        [("self", EMPTY), ("eio_sid", EMPTY), ("namespace", EMPTY), ("id", EMPTY), ("data", EMPTY)],
    ),  # fmt: skip
    (
        socketio.AsyncServer,
        "_handle_connect",
        [("self", EMPTY), ("eio_sid", EMPTY), ("namespace", EMPTY), ("data", EMPTY)],
    ),  # fmt: skip
    (
        socketio.AsyncServer,
        "_handle_disconnect",
        [("self", EMPTY), ("eio_sid", EMPTY), ("namespace", EMPTY), ("reason", None)],
    ),  # fmt: skip
    (
        socketio.AsyncServer,
        "register_namespace",
        [("self", EMPTY), ("namespace_handler", EMPTY)],
    ),  # fmt: skip
    (
        socketio.AsyncNamespace,
        "trigger_event",
        [("self", EMPTY), ("event", EMPTY), ("args", EMPTY)],
    ),  # fmt: skip
    # the client managers publish and listen their own way on a cluster
    (AsyncPubSubManager, "_publish", [("self", EMPTY), ("data", EMPTY)]),
    (AsyncPubSubManager, "_listen", [("self", EMPTY)]),
    (socketio.PubSubManager, "_publish", [("self", EMPTY), ("data", EMPTY)]),
    # BoundedRedisManager swaps the pool and drops a closed staff room's connections
    (socketio.AsyncRedisManager, "_redis_connect", [("self", EMPTY)]),
    (socketio.AsyncRedisManager, "_handle_close_room", [("self", EMPTY), ("message", EMPTY)]),
    (engineio.AsyncServer, "disconnect", [("self", EMPTY), ("sid", None)]),
]


@pytest.mark.parametrize(
    ("base", "name", "expected"),
    OVERRIDDEN_OR_CALLED,
    ids=[f"{base.__name__}.{name}" for base, name, _ in OVERRIDDEN_OR_CALLED],
)
def test_the_methods_ult_overrides_or_calls_keep_their_signatures(base, name, expected) -> None:
    assert params(getattr(base, name)) == expected


def test_the_overrides_match_what_they_replace() -> None:
    pairs = [
        (StrictServer, socketio.AsyncServer, "_handle_eio_message"),
        (AsyncClusterManager, AsyncPubSubManager, "_publish"),
        (ClusterWriteManager, socketio.PubSubManager, "_publish"),
        (BoundedRedisManager, socketio.AsyncRedisManager, "_redis_connect"),
        (BoundedRedisManager, socketio.AsyncRedisManager, "_handle_close_room"),
    ]
    for ours, base, name in pairs:
        mine, theirs = getattr(ours, name), getattr(base, name)
        assert mine is not theirs, f"{ours.__name__}.{name} overrides nothing"
        assert params(mine) == params(theirs), name
        async_pair = (inspect.iscoroutinefunction(mine), inspect.iscoroutinefunction(theirs))
        assert async_pair[0] == async_pair[1], name
    # the manager's listening task iterates `_listen()`: an async generator, as in its own
    # Redis manager
    assert "async for message in self._listen()" in inspect.getsource(AsyncPubSubManager._thread)
    assert inspect.isasyncgenfunction(socketio.AsyncRedisManager._listen)
    assert inspect.isasyncgenfunction(AsyncClusterManager._listen)


def test_engineio_still_hands_every_message_to_the_override() -> None:
    sio = StrictServer(async_mode="asgi")
    assert sio.eio.handlers["message"] == sio._handle_eio_message
    assert sio.eio.handlers["message"].__func__ is StrictServer._handle_eio_message
    # what StrictServer reads and clears to refuse a connection
    assert sio._binary_packet == {} and sio.eio.sockets == {}
    assert sio.reason.CLIENT_DISCONNECT
    assert sio.packet_class(encoded_packet='2["scan",{}]').packet_type == socketio.packet.EVENT
    assert isinstance(AsyncSocket(sio.eio, "x").queue, asyncio.Queue)


def test_a_refusal_carries_its_message_and_data() -> None:
    refused = socketio.exceptions.ConnectionRefusedError("Too many.", {"code": "c"})
    assert refused.error_args == {"message": "Too many.", "data": {"code": "c"}}


async def test_the_rooms_map_the_watch_flags_read() -> None:
    manager = socketio.AsyncManager()
    manager.set_server(socketio.AsyncServer(async_mode="asgi"))
    manager.initialize()
    sid = await manager.connect("eio-1", "/")
    await manager.enter_room(sid, "/", "sponsor:x")
    assert sid in manager.rooms["/"]["sponsor:x"]
    assert manager.eio_sid_from_sid(sid, "/") == "eio-1"
    assert [p[0] for p in manager.get_participants("/", "sponsor:x")] == [sid]
