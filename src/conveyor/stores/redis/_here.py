"""Blocking connections for the calling thread: the Redis store's ``enqueue_here``.

``queue.sync.enqueue`` from a thread with no event loop (a Flask or Django view) sends
its script call on the calling thread: through the portal's loop it woke two threads,
which cost more than the round trip. :class:`BlockingConnections` is the blocking twin
of :class:`._conn.Connections`: redis-py makes each connection (address, TLS,
credentials, database) with the store's options; from then on a command is packed by
hiredis, sent and its reply read by redis-py's parser, without the client's command
callbacks or its pool's checkout (a lock, a fork check and a poll of the socket per
command, which doubled the client's share of the call). Connections are kept in a free
list, one command on each at a time, and errors are redis-py's, as on the event loop.

They belong to one process: after a fork the child's store makes new ones (the
parent's sockets are never used or closed there), and :meth:`~BlockingConnections.close`
ends them all (the store closes them with its own connections).
"""

from __future__ import annotations

import os
import threading
from typing import Any, Protocol, cast

import redis
from redis.exceptions import BusyLoadingError, ConnectionError, ResponseError

from ._codec import Arg
from ._packing import pack_command


class Link(Protocol):
    """What the store uses of a blocking redis-py connection (its methods are not typed)."""

    def connect(self) -> None:
        """Connect and greet the server (credentials, database, protocol)."""
        ...

    def disconnect(self) -> None:
        """Close the socket (a child process closes only its own copy)."""
        ...

    def send_packed_command(self, command: list[bytes], check_health: bool = True) -> None:
        """Write packed commands (connecting first if not connected)."""
        ...

    def read_response(self) -> Any:
        """Read one reply; raise it if it is an error reply."""
        ...


class BlockingConnections:
    """A free list of blocking connections to ``server``, made by ``pool``, for this process."""

    def __init__(self, server: str, pool: redis.ConnectionPool) -> None:
        self.server = server
        """The URL the connections go to (a cluster's store moves them when its slot moves)."""
        self._pool = pool
        self._pid = os.getpid()
        self._idle: list[Link] = []
        self._lock = threading.Lock()
        self._closed = False

    @property
    def usable(self) -> bool:
        """True until closed, in the process that made them."""
        return not self._closed and self._pid == os.getpid()

    def execute(self, *args: Arg) -> Any:
        """Send one command and return its reply; raise redis-py's errors.

        A connection that broke (the server restarted since it was used, say) is tried
        once more, connected afresh, as on the event loop (the scripts are safe to send
        twice). An error reply leaves the connection usable.
        """
        packed = [pack_command(args)]
        connection = self._take()
        try:
            try:
                connection.send_packed_command(packed, check_health=False)
                reply = connection.read_response()
            except ConnectionError as exc:
                if isinstance(exc, BusyLoadingError):  # an error reply (-LOADING), not a break
                    raise
                connection.disconnect()
                connection.connect()
                connection.send_packed_command(packed, check_health=False)
                reply = connection.read_response()
        except ResponseError:
            self._give_back(connection)
            raise
        except BaseException:
            connection.disconnect()
            raise
        self._give_back(connection)
        return reply

    def close(self) -> None:
        """Close the idle connections; those in use are closed as they come back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        if self._pid == os.getpid():  # a child leaves its parent's sockets alone
            for connection in idle:
                connection.disconnect()

    def _take(self) -> Link:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        connection = cast("Link", self._pool.make_connection())
        try:
            connection.connect()
        except BaseException:
            connection.disconnect()
            raise
        return connection

    def _give_back(self, connection: Link) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(connection)
                return
        connection.disconnect()
