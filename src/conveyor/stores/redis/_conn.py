"""One event loop's connections to the server, with the shortest path to a reply.

The store sends few kinds of commands (script calls, mostly) and needs neither
redis-py's reply callbacks nor its pool's bookkeeping (observability counters, event
dispatch, a lock per checkout), which on a small machine cost as much client time as
the round trip itself. Here a command takes an idle connection (or makes one), is packed
by hiredis when it is installed, sent, and its reply read as the parser gives it (RESP3,
no callbacks); the connection goes back to the idle list. Errors are redis-py's: its
connections raise ``ConnectionError`` (and disconnect themselves) on a broken socket,
and the server's error replies as ``ResponseError`` subclasses (``NoScriptError``...),
after which the connection is still usable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError, ResponseError

from ._codec import Arg
from ._packing import pack_command


class Connections:
    """A free list of connections made by ``make``; commands run one per connection."""

    def __init__(self, make: Callable[[], AbstractConnection]) -> None:
        self._make = make
        self._idle: list[AbstractConnection] = []
        # Connections in use are referenced here: a task that only awaits a reply (one
        # that run_coroutine_threadsafe started, say) is otherwise referenced by nothing
        # but that connection, and the garbage collector would destroy it mid-wait.
        self._busy: set[AbstractConnection] = set()
        self._closed = False

    async def execute(self, *args: Arg) -> Any:
        """Send one command; return its reply as the protocol parser gives it (no callbacks).

        A ``ConnectionError`` is retried once on a fresh connection: pooled ones die
        when the server restarts.
        """
        idle = self._idle
        connection = idle.pop() if idle else self._make()
        packed = pack_command(args) if pack_command is not None else connection.pack_command(*args)
        self._busy.add(connection)
        try:
            try:
                await connection.send_packed_command(packed, check_health=False)
                reply = await connection.read_response()
            except ConnectionError:
                await connection.disconnect()
                await connection.send_packed_command(packed, check_health=False)
                reply = await connection.read_response()
        except ResponseError:
            self._release(connection)  # the whole reply was read: the connection is clean
            raise
        except BaseException:
            # A broken socket (redis-py disconnected it) or a cancellation (the reply may
            # still be on its way): the connection is not used again.
            self._busy.discard(connection)
            raise
        self._release(connection)
        return reply

    def _release(self, connection: AbstractConnection) -> None:
        self._busy.discard(connection)
        if self._closed:
            connection._close()  # type: ignore[no-untyped-call]
        else:
            self._idle.append(connection)

    async def aclose(self) -> None:
        """Disconnect the idle connections; those in use are closed when they return."""
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.disconnect()
