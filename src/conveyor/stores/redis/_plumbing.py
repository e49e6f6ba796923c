"""The Redis store's plumbing: connections, the command and script paths, outages, events.

:class:`RedisPlumbing` holds what every operation of :class:`~conveyor.stores.redis.RedisStore`
goes through: each event loop's connections (:mod:`._conn`) and armed claims
(:mod:`._armed`), the node that serves the store's slot in a cluster (:mod:`._cluster`),
the server's clock, the listener thread (:mod:`._listener`) with the channels it follows,
and the paths of a script call (:meth:`~RedisPlumbing._run`) and a plain command
(:meth:`~RedisPlumbing._command`), which turn an outage into
:class:`~conveyor.errors.BackendUnavailableError`, and their blocking twin for the
calling thread (:meth:`~RedisPlumbing._run_here`, :mod:`._here`).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis
import redis.asyncio
import redis.retry
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import (
    AskError,
    ConnectionError,
    MovedError,
    NoScriptError,
    ResponseError,
    TimeoutError,
)

from ...clock import Clock, ServerClock
from ...errors import BackendUnavailableError
from .._coalesce import Coalescer
from ..channel import RemoteEvents, decode_events
from ..loops import PerLoop
from ..records import Outcome
from ..signals import ChangeSignal
from . import _scripts as lua
from ._armed import ArmedClaims
from ._cluster import SlotLocator
from ._codec import Arg
from ._conn import Connections, describe, is_outage_reply
from ._here import BlockingConnections
from ._keys import Keys
from ._listener import Listener
from ._packing import with_fast_packing
from ._url import parse_url

T = TypeVar("T")
CONNECT_TIMEOUT = 3.0
# No socket timeout: with one, redis-py wraps every send in asyncio.wait_for, which
# costs a task per command and, on Python 3.11, can swallow a cancellation. A dead
# peer is found by TCP keepalive instead (after about 10 + 3 x 5 s of silence).
_KEEPALIVE = {
    option: value
    for name, value in (("TCP_KEEPIDLE", 10), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 3))
    if (option := getattr(socket, name, None)) is not None
}
CALIBRATE_EVERY = 60.0
# Events that cannot make work ready or finish a job need not wake anybody.
_QUIET_EVENTS = frozenset({"job:started", "job:progress"})
_SOCKET_OPTIONS: dict[str, Any] = {
    "socket_connect_timeout": CONNECT_TIMEOUT, "socket_timeout": None,
    "socket_keepalive": True, "socket_keepalive_options": _KEEPALIVE,
}  # fmt: skip
"""The socket options of every connection the store makes (loops', threads', listener's)."""

UNAVAILABLE = (ConnectionError, TimeoutError, OSError)
"""What a command fails with when the server cannot be reached (an outage, for callers)."""


class RedisPlumbing:
    """The connections, command paths, clock and listener of a Redis store."""

    _settlers: PerLoop[Coalescer[Outcome, bool]]
    """Each event loop's merged settles (made by the store class; dropped on close)."""

    def __init__(self, url: str, clock: Clock | None = None) -> None:
        parsed = parse_url(url)
        self.url = parsed.masked
        self._server = parsed.server
        self.keys = Keys(parsed.prefix)
        self._locator = (
            SlotLocator(parsed.server, self.keys.tag, self.url, CONNECT_TIMEOUT)
            if parsed.cluster
            else None
        )
        self._relocate = parsed.cluster
        self._server_clock = None if clock is not None else ServerClock()
        self.clock: Clock = clock or self._server_clock  # type: ignore[assignment]
        self.changes = ChangeSignal()
        self.changes.on_first_waiter = self._poke = threading.Event()
        self.remote_events = RemoteEvents()
        self._origin = self.remote_events.origin
        self._own_messages = b'{"o":"%s"' % self._origin.encode()
        self._clients: PerLoop[Connections] = PerLoop(self._new_connections)
        self._armed: PerLoop[ArmedClaims] = PerLoop(
            lambda: ArmedClaims(self._new_pool().make_connection)
        )
        self._lock = threading.Lock()
        self._listener: Listener | None = None
        self._here: BlockingConnections | None = None
        """The calling threads' connections (:meth:`_run_here`), made on first use."""
        self._opened = False
        self._calibrate_at = 0.0
        self._bells_refused = False

    # -- life cycle --------------------------------------------------------------------

    def _new_connections(self) -> Connections:
        return Connections(self._new_pool().make_connection)

    def _new_client(self) -> redis.asyncio.Redis:
        """Make a redis-py client with the store's connection options (for benchmarks)."""
        return redis.asyncio.Redis(connection_pool=self._new_pool())

    def _new_pool(self) -> redis.asyncio.ConnectionPool:
        pool = redis.asyncio.ConnectionPool.from_url(
            self._server,
            **_SOCKET_OPTIONS,
            # One retry on a fresh connection: pooled ones die when the server restarts.
            retry=Retry(NoBackoff(), 1, supported_errors=(ConnectionError,)),
        )
        pool.connection_class = with_fast_packing(pool.connection_class)
        return pool

    def _new_blocking_pool(self) -> redis.ConnectionPool:
        """Make a blocking pool with :meth:`_new_pool`'s options (it only makes connections)."""
        return redis.ConnectionPool.from_url(
            self._server,
            **_SOCKET_OPTIONS,
            retry=redis.retry.Retry(NoBackoff(), 1, supported_errors=(ConnectionError,)),
        )

    def _new_sync_client(self) -> redis.Redis:
        return redis.Redis.from_url(
            self._server,
            **_SOCKET_OPTIONS,
            protocol=2,  # the listener reads pub/sub messages as RESP2 arrays
        )

    async def open(self) -> None:
        """Check the server answers, read its clock, and start listening for events."""
        if self._relocate:
            await self._locate()
        if not self._opened:
            client = self._clients.get()
            await self._call(lambda: self._calibrate(client))
        with self._lock:
            if self._listener is None:
                self._listener = Listener(
                    self._new_sync_client,
                    self.keys.wake(self._origin),
                    self._wanted_channels,
                    self._poke,
                    self._on_message,
                    self.changes.fire,
                )
                self._listener.start()
            listener = self._listener
        # A remote event listener was added (the queue opens the store to say so): be
        # subscribed before anything goes on (a concurrent call waits here too, as it
        # sees the store not open yet), so that no event after this point is missed.
        channels = self._wanted_channels()
        if self.remote_events.has_listeners and not listener.wait_subscribed(channels, 0):
            await self._hurry(listener)
            loop = asyncio.get_running_loop()
            wait = listener.wait_subscribed
            if not await loop.run_in_executor(None, wait, channels, CONNECT_TIMEOUT):
                raise BackendUnavailableError(f"cannot subscribe to the events of {self.url}")
        self._opened = True

    def _wanted_channels(self) -> tuple[str, ...]:
        """Name the channels the listener needs now (called on its thread).

        A job made ready by an enqueue is announced on ``:events`` (its bell wakes the
        idle workers): where the server refused the bell wait, waiters follow both.
        """
        if self.remote_events.has_listeners or (self._bells_refused and self.changes.has_waiters):
            return (self.keys.changes, self.keys.events)
        if self.changes.has_waiters:
            return (self.keys.changes,)
        return ()

    async def close(self) -> None:
        """Stop the listener and close every event loop's connections; open() again works."""
        with self._lock:
            listener, self._listener = self._listener, None
            here, self._here = self._here, None
            self._opened = False
        if listener is not None:
            listener.request_stop()
            await self._hurry(listener)
            await asyncio.get_running_loop().run_in_executor(None, listener.join)
        self._settlers.take_all()
        if here is not None:
            here.close()
        await self._drop_connections()

    async def _drop_connections(self) -> None:
        """Close every event loop's connections (new ones are made on the next command)."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for loop, client in self._clients.take_all():
            if loop is running:
                await client.aclose()
            elif loop.is_running():
                # Not awaited: that loop may be blocked waiting for this one.
                asyncio.run_coroutine_threadsafe(client.aclose(), loop)
        for loop, armed in self._armed.take_all():
            if loop is running:
                armed.close()
            elif loop.is_running():
                loop.call_soon_threadsafe(armed.close)

    async def _locate(self) -> None:
        """Ask the cluster which node serves the store's slot; talk to that one from now on."""
        assert self._locator is not None
        loop = asyncio.get_running_loop()
        server = await loop.run_in_executor(None, self._locator.locate)
        self._relocate = False
        if server != self._server:
            self._server = server  # the listener reconnects there if its node went away
            await self._drop_connections()

    def _retry_elsewhere(self, exc: ResponseError) -> bool:
        """Say whether a command refused with ``exc`` is worth one more try on a located node.

        Raise :class:`BackendUnavailableError` for replies that refuse every command for
        now (:func:`._conn.is_outage_reply`; a slot being migrated is one too): workers
        back off and try again. ``False``: a plain error reply, to raise as it is.
        """
        if isinstance(exc, MovedError) and self._locator is not None:
            self._relocate = True
            return True
        if isinstance(exc, AskError) or is_outage_reply(exc):
            raise self._unavailable(exc) from None
        return False

    def _unavailable(self, exc: BaseException) -> BackendUnavailableError:
        if self._locator is not None:
            self._relocate = True  # its primary may have failed over to a replica
            self._calibrate_at = 0.0  # so that the next call takes the path that locates
        return BackendUnavailableError(f"Redis at {self.url} is unavailable: {describe(exc)}")

    async def _hurry(self, listener: Listener) -> None:
        """Make the listener look at its stop flag and channels now, not after its read."""
        listener.refresh()
        if listener.connected:
            with contextlib.suppress(*UNAVAILABLE):  # it notices within its read timeout
                await self._clients.get().execute("PUBLISH", self.keys.wake(self._origin), b"")

    async def _calibrate(self, client: Connections) -> None:
        sent = time.time()
        seconds, micros = await client.execute("TIME")
        received = time.time()
        if self._server_clock is not None:
            self._server_clock.calibrate(int(seconds) + int(micros) / 1e6, sent, received)
        self._calibrate_at = time.monotonic() + CALIBRATE_EVERY

    def _on_message(self, data: bytes) -> None:
        """Run on the listener thread for every event message."""
        if data.startswith(self._own_messages):
            return  # this store fired its own changes already
        origin, events = decode_events(data)
        if any(event.event not in _QUIET_EVENTS for event in events):
            self.changes.fire()
        self.remote_events.deliver(origin, events)

    async def _client(self) -> Connections:
        if not self._opened:
            await self.open()
        if self._relocate:
            await self._locate()
        client = self._clients.get()
        if time.monotonic() > self._calibrate_at:
            await self._call(lambda: self._calibrate(client))
        return client

    async def _call(self, operation: Callable[[], Awaitable[T]]) -> T:
        try:
            return await operation()
        except UNAVAILABLE as exc:
            raise self._unavailable(exc) from None
        except ResponseError as exc:
            if is_outage_reply(exc):
                raise self._unavailable(exc) from None
            raise

    def _client_if_ready(self) -> Connections | None:
        """Return this loop's connections if :meth:`_client` has nothing to do first, else None.

        The script paths' short way: no coroutine of :meth:`_client` per call.
        """
        if self._opened and time.monotonic() <= self._calibrate_at:
            return self._clients.get()
        return None

    async def _run(self, script: lua.Script, args: list[Arg]) -> Any:
        # _call() inlined: every script call takes this path.
        client = self._client_if_ready() or await self._client()
        tag = self.keys.tag
        try:
            return await client.execute("EVALSHA", script.sha, 1, tag, *args)
        except NoScriptError:
            pass  # the server restarted or flushed its scripts: the call below loads it
        except UNAVAILABLE as exc:
            raise self._unavailable(exc) from None
        except ResponseError as exc:
            if not self._retry_elsewhere(exc):
                raise
            client = await self._client()  # on the node that serves the slot now
        return await self._call(lambda: script(client, tag, args))

    async def _command(self, *args: Arg) -> Any:
        """Run one plain command (not a script) on the node that holds the store's keys."""
        client = await self._client()
        try:
            return await self._call(lambda: client.execute(*args))
        except ResponseError as exc:
            if not self._retry_elsewhere(exc):
                raise
        client = await self._client()
        return await self._call(lambda: client.execute(*args))

    # -- on the calling thread -----------------------------------------------------------

    @property
    def writes_here(self) -> bool:
        """True while a script can run on the calling thread with nothing to do first.

        False before the store is open, while a cluster's slot must be located again,
        and once a minute, when the clock is due for calibration: the event loop's path
        (through the portal) does those.
        """
        return self._opened and not self._relocate and time.monotonic() <= self._calibrate_at

    def _run_here(self, script: lua.Script, args: list[Arg]) -> bool:
        """Run ``script`` as :meth:`_run` does, on the calling thread, blocking.

        False, having done nothing, where the event loop must run it: the store was
        closed meanwhile, or the cluster moved its slot (``MOVED``).
        """
        here = self._blocking_connections()
        if here is None:
            return False
        tag = self.keys.tag
        try:
            try:
                here.execute("EVALSHA", script.sha, 1, tag, *args)
            except NoScriptError:
                here.execute("SCRIPT", "LOAD", script.source)
                here.execute("EVALSHA", script.sha, 1, tag, *args)
        except UNAVAILABLE as exc:
            raise self._unavailable(exc) from None
        except ResponseError as exc:
            if self._retry_elsewhere(exc):
                return False
            raise
        return True

    def _blocking_connections(self) -> BlockingConnections | None:
        """Return this process's connections for calling threads, to the store's node.

        Made on first use (again after a fork, or when a cluster's slot moved); ``None``
        once the store is closed.
        """
        here = self._here
        if here is not None and here.usable and here.server == self._server:
            return here
        with self._lock:
            if not self._opened:
                return None
            old = here = self._here
            if here is None or not here.usable or here.server != self._server:
                here = self._here = BlockingConnections(self._server, self._new_blocking_pool())
                if old is not None:
                    old.close()
        return here
