"""One event loop's connections to the server, with the shortest path to a reply.

The store sends few kinds of commands (script calls, mostly) and needs neither
redis-py's reply callbacks nor its pool's bookkeeping (observability counters, event
dispatch, a lock per checkout), which on a small machine cost as much client time as
the round trip itself. redis-py makes each connection (address, TLS, credentials,
database, protocol version); from then on the store drives its socket itself: a command
takes an idle connection (or makes one), is packed by hiredis and written to the
transport, and :class:`_Replies`, the socket's protocol, feeds what arrives to a hiredis
reader and hands the whole reply to the waiting command (no stream reader and its
nested coroutines, no callbacks). The connection goes back to the idle list.

Errors are redis-py's: a broken socket fails the command with ``ConnectionError`` and
the connection is dropped; the server's error replies raise as ``ResponseError``
subclasses (``NoScriptError``...), after which the connection is still usable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import hiredis
from redis._parsers.base import BaseParser
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError, InvalidResponse, ResponseError

from ._codec import Arg
from ._packing import pack_command

_INCOMPLETE = object()
"""What the reader gives while a reply is still partly on its way."""


class _Replies(asyncio.Protocol):
    """Reads one connection's replies off its socket, for one command at a time."""

    def __init__(self, connection: AbstractConnection, transport: asyncio.Transport) -> None:
        self.connection = connection  # redis-py's: it closes the socket
        self.transport = transport
        self._reader = hiredis.Reader(
            protocolError=InvalidResponse,
            replyError=BaseParser.parse_error,
            notEnoughData=_INCOMPLETE,
        )
        self._waiter: asyncio.Future[Any] | None = None
        self.lost = False

    def send(self, packed: bytes) -> asyncio.Future[Any]:
        """Write a packed command; return the future of its reply."""
        waiter = self._waiter = asyncio.get_running_loop().create_future()
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
        self._idle: list[_Replies] = []
        # Connections in use are referenced here: a task that only awaits a reply (one
        # that run_coroutine_threadsafe started, say) is otherwise referenced by nothing
        # but that connection, and the garbage collector would destroy it mid-wait.
        self._busy: set[_Replies | AbstractConnection] = set()
        self._closed = False

    async def execute(self, *args: Arg) -> Any:
        """Send one command; return its reply as the protocol parser gives it (no callbacks).

        A ``ConnectionError`` is retried once on a fresh connection: pooled ones die
        when the server restarts.
        """
        idle = self._idle
        link = idle.pop() if idle and not idle[-1].lost else await self._fresh()
        packed = pack_command(args)
        busy = self._busy
        busy.add(link)
        try:
            try:
                reply = await link.send(packed)
            except ConnectionError:
                busy.discard(link)
                link = await self._connect()
                busy.add(link)
                reply = await link.send(packed)
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
        if isinstance(reply, ResponseError):
            raise reply
        return reply

    async def _fresh(self) -> _Replies:
        """Drop the idle connections the server closed; make a new one."""
        self._idle[:] = [link for link in self._idle if not link.lost]
        return await self._connect()

    async def _connect(self) -> _Replies:
        """Connect and greet the server (redis-py), then read the socket here."""
        connection = self._make()
        self._busy.add(connection)  # as a link in use: it may be all that refers to the task
        try:
            await connection.connect()  # type: ignore[no-untyped-call]
        finally:
            self._busy.discard(connection)
        writer = connection._writer
        assert writer is not None
        link = _Replies(connection, writer.transport)  # type: ignore[arg-type]
        writer.transport.set_protocol(link)
        return link

    async def aclose(self) -> None:
        """Close the idle connections; those in use are closed when they return."""
        self._closed = True
        idle, self._idle = self._idle, []
        for link in idle:
            link.close()
