"""One event loop's connections to the server, with the shortest path to a reply.

The store sends few kinds of commands (script calls, mostly) and needs neither
redis-py's reply callbacks nor its pool's bookkeeping (observability counters, event
dispatch, a lock per checkout), which on a small machine cost as much client time as
the round trip itself. redis-py makes each connection (address, TLS, credentials,
database, protocol version); from then on the store drives its socket itself: a command
takes an idle connection (or makes one), is packed by hiredis and written to the
transport, and :class:`Link`, the socket's protocol, feeds what arrives to a hiredis
reader and hands the whole reply to the waiting command (no stream reader and its
nested coroutines, no callbacks). The connection goes back to the idle list.

Errors are redis-py's: a broken socket fails the command with ``ConnectionError`` and
the connection is dropped; the server's error replies raise as the class redis-py gives
them (:func:`raise_errors`), after which the connection is still usable. Most are
``ResponseError`` subclasses (``NoScriptError``...), but not all: ``-LOADING`` is a
``BusyLoadingError``, a ``ConnectionError``. :func:`is_outage_reply` says which of the
others mean "the server cannot serve now" rather than "this command is wrong".
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import hiredis
from redis._parsers.base import BaseParser
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import (
    ClusterDownError,
    ConnectionError,
    InvalidResponse,
    OutOfMemoryError,
    ReadOnlyError,
    RedisError,
    ResponseError,
    TryAgainError,
)

from ._codec import Arg
from ._packing import pack_command

_INCOMPLETE = object()
"""What the reader gives while a reply is still partly on its way."""

OUTAGE_REPLIES = frozenset({"LOADING", "MASTERDOWN", "READONLY", "TRYAGAIN", "CLUSTERDOWN",
                            "BUSY", "NOREPLICAS", "MISCONF", "OOM"})  # fmt: skip
"""Codes of error replies that refuse any command for a while: the server is loading its
data (``LOADING``), is a replica cut off from its primary or one that a failover left
behind (``MASTERDOWN``, ``READONLY``), is in a cluster that moves a slot or misses a
shard (``TRYAGAIN``, ``CLUSTERDOWN``), runs a long script (``BUSY``), lacks the replicas
it must write to (``NOREPLICAS``), could not save (``MISCONF``) or is full (``OOM``).
The refused command had no effect, and may succeed later."""
_OUTAGE_CLASSES = (ReadOnlyError, OutOfMemoryError, TryAgainError, ClusterDownError)
"""redis-py's classes for some of those codes (older versions keep no code)."""


def raise_errors(reply: Any) -> Any:
    """Return ``reply``; raise it if it is an error reply (hiredis makes them, not raises)."""
    if isinstance(reply, RedisError):
        raise reply
    return reply


def describe(exc: BaseException) -> str:
    """``exc``'s text, led by its error code where redis-py took that off (``LOADING ...``)."""
    message = str(exc)
    code = getattr(exc, "status_code", None)
    return f"{code} {message}" if code and not message.startswith(code) else message


def is_outage_reply(exc: ResponseError) -> bool:
    """Say whether error reply ``exc`` refuses commands for now (:data:`OUTAGE_REPLIES`).

    ``-LOADING`` needs no asking: redis-py makes it a ``ConnectionError``.
    """
    if isinstance(exc, _OUTAGE_CLASSES):
        return True
    code = getattr(exc, "status_code", None) or str(exc).split(" ", 1)[0]
    return code in OUTAGE_REPLIES


class Link(asyncio.Protocol):
    """A connection whose replies the store reads off its socket, one send at a time."""

    def __init__(self, connection: AbstractConnection, transport: asyncio.Transport) -> None:
        self.connection = connection  # redis-py's: it closes the socket
        self.transport = transport
        self._reader = hiredis.Reader(
            protocolError=InvalidResponse,
            replyError=BaseParser.parse_error,
            notEnoughData=_INCOMPLETE,
        )
        self._waiter: asyncio.Future[Any] | None = None
        self._count = 1
        self._replies: list[Any] = []
        self.lost = False
        self.client_id: int | None = None
        """The server's id of this connection, where one was asked for (``CLIENT ID``)."""

    def send(self, packed: bytes, count: int = 1) -> asyncio.Future[Any]:
        """Write packed commands; return the future of their reply.

        ``count``: how many commands ``packed`` holds; above one, the future's result
        is the list of their replies.
        """
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        self._count = count
        self.transport.write(packed)
        return waiter

    def data_received(self, data: bytes) -> None:
        """Feed ``data`` to the reader; give the waiting command its reply once whole."""
        waiter = self._waiter
        if waiter is None:
            # Bytes nobody asked for (a push message): the next reply read here could be
            # theirs, so the connection is not used again.
            self.lost = True
            self.transport.close()
            return
        self._reader.feed(data)
        reply = self._reader.gets()
        while self._count > 1 and reply is not _INCOMPLETE:
            self._replies.append(reply)
            if len(self._replies) == self._count:
                reply, self._replies = self._replies, []
                break
            reply = self._reader.gets()
        if reply is not _INCOMPLETE:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        """Fail the waiting command with ``ConnectionError``."""
        self.lost = True
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionError(f"connection to the server lost: {exc}"))

    def close(self) -> None:
        """Close the socket (redis-py's connection forgets it too)."""
        self.connection._close()  # type: ignore[no-untyped-call]


class Connections:
    """A free list of connections made by ``make``; commands run one per connection."""

    def __init__(self, make: Callable[[], AbstractConnection]) -> None:
        self._make = make
        self._idle: list[Link] = []
        # Connections in use are referenced here: a task that only awaits a reply (one
        # that run_coroutine_threadsafe started, say) is otherwise referenced by nothing
        # but that connection, and the garbage collector would destroy it mid-wait.
        self._busy: set[Link | AbstractConnection] = set()
        self._closed = False

    async def execute(self, *args: Arg) -> Any:
        """Send one command; return its reply as the protocol parser gives it (no callbacks).

        A ``ConnectionError`` is retried once on a fresh connection: pooled ones die
        when the server restarts.
        """
        return raise_errors(await self._send(pack_command(args), 1))

    async def execute_many(self, commands: Sequence[tuple[Arg, ...]]) -> list[Any]:
        """Send ``commands`` in one write, one after the other; return their replies.

        An error reply stands in the list as an exception, not raised: the others ran.
        """
        packed = b"".join(pack_command(command) for command in commands)
        return list(await self._send(packed, len(commands)))

    async def _send(self, packed: bytes, count: int) -> Any:
        idle = self._idle
        link = take_idle(idle) or await connect(self._make, self._busy)
        busy = self._busy
        busy.add(link)
        try:
            try:
                reply = await link.send(packed, count)
            except ConnectionError:
                busy.discard(link)
                link = await connect(self._make, busy)
                busy.add(link)
                reply = await link.send(packed, count)
        except BaseException:
            # A broken socket or a cancellation (the reply may still be on its way):
            # the connection is not used again.
            busy.discard(link)
            link.close()
            raise
        busy.discard(link)
        if self._closed:
            link.close()
        else:
            idle.append(link)
        return reply

    async def aclose(self) -> None:
        """Close the idle connections; those in use are closed when they return."""
        self._closed = True
        idle, self._idle = self._idle, []
        for link in idle:
            link.close()


def take_idle(idle: list[Link]) -> Link | None:
    """Take the last of ``idle`` that the server has not closed (dropping those it has)."""
    while idle:
        link = idle.pop()
        if not link.lost:
            return link
    return None


async def connect(make: Callable[[], AbstractConnection], busy: set[Any]) -> Link:
    """Connect and greet the server (redis-py), then read the socket with :class:`Link`.

    The connection is in ``busy`` while it connects: the task waiting for the greeting
    may be referred to by nothing else (one ``run_coroutine_threadsafe`` started).
    """
    connection = make()
    busy.add(connection)
    try:
        await connection.connect()  # type: ignore[no-untyped-call]
    finally:
        busy.discard(connection)
    writer = connection._writer
    assert writer is not None
    link = Link(connection, writer.transport)  # type: ignore[arg-type]
    writer.transport.set_protocol(link)
    return link
