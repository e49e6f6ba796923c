"""The PostgreSQL store's plumbing: connection pools, statements' error paths, the listener.

:class:`PostgresPlumbing` holds what every operation of
:class:`~conveyor.stores.postgres.PostgresStore` goes through: the parsed settings and
the schema's statements (:mod:`.queries`), each event loop's connection pool
(:mod:`._pools`), the running of one statement (:meth:`~PostgresPlumbing._fetch`) or of a
transaction (:meth:`~PostgresPlumbing._transaction`) with driver errors turned into
conveyor's (and a dropped schema created again), and the listener thread
(:mod:`._listener`) that LISTENs only while something waits for its notifications;
beside them, the blocking twin of a statement for the calling thread
(:meth:`~PostgresPlumbing._fetch_here`, :mod:`._here`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg

from ... import events
from ...clock import Clock, ServerClock
from ...errors import BackendUnavailableError, ConveyorError
from .._coalesce import Coalescer
from ..channel import RemoteEvents, RemoteListener, decode_events
from ..loops import PerLoop
from ..records import JobRecord, Outcome
from ..signals import ChangeSignal
from . import queries
from ._codec import Params
from ._here import BlockingConnections
from ._listener import Listener
from ._pools import LoopPools
from ._url import parse_url
from .schema import check_and_migrate, connect

log = logging.getLogger("conveyor.stores.postgres")

# Events that wake nobody: they neither make work ready nor finish a job.
_QUIET = frozenset({events.JOB_STARTED, events.JOB_PROGRESS})
# What a statement fails with when the schema was dropped under a running store.
_SCHEMA_GONE = (
    psycopg.errors.UndefinedTable,
    psycopg.errors.UndefinedFunction,
    psycopg.errors.InvalidSchemaName,
)
# Failures after which the other connections are checked (or replaced) too.
_BROKEN_OR_READ_ONLY = (psycopg.OperationalError, psycopg.errors.ReadOnlySqlTransaction)


class PostgresPlumbing:
    """The pools, statement paths and listener of a PostgreSQL store."""

    _settlers: PerLoop[Coalescer[Outcome, bool]]
    """Each event loop's merged settles (made by the store class; dropped on close)."""

    def __init__(self, url: str, clock: Clock | None = None) -> None:
        self._settings = parse_url(url)
        self.url = self._settings.masked
        server_clock = ServerClock()
        self._server_clock = server_clock if clock is None else None
        """Calibrated by the listener; ``None`` when a clock was given."""
        self.clock: Clock = clock or server_clock
        self.changes = ChangeSignal()
        self.changes.on_first_waiter = _Callback(self._want_listening)
        self.remote_events: RemoteEvents = _RemoteEvents(
            lambda: self._want_listening(_SUBSCRIBE_WAIT)
        )
        # This process's own events, as encode_events and publish() (since migration 0010,
        # which this code requires) spell them: the listener drops them unread (their
        # changes were fired where they were made).
        self._own = f'{{"o":"{self.remote_events.origin}"'
        self._q = queries.for_schema(self._settings.schema)
        self._publish = {"channel": self._settings.channel, "origin": self.remote_events.origin}
        self._pools = LoopPools(self._settings)
        self._lock = threading.Lock()
        self._listener: Listener | None = None
        self._here: BlockingConnections | None = None
        """The calling threads' connections (:meth:`_fetch_here`), made on first use."""
        self._opened = False

    # -- life cycle --------------------------------------------------------------------

    async def open(self) -> None:
        """Connect, migrate (or check) the schema and start listening; idempotent."""
        if self._opened:
            return
        with self._lock:
            listener = self._listener
            if listener is None:
                listener = self._listener = Listener(
                    self._settings,
                    clock=self._server_clock,
                    on_message=self._on_message,
                    on_reconnect=self.changes.fire,
                    wanted=self._listening_wanted,
                )
        try:
            await asyncio.wrap_future(listener.ready)
        except ConveyorError:
            with self._lock:
                failed = self._listener is listener
                if failed:
                    self._listener = None
            if failed:
                await asyncio.to_thread(listener.stop)
            raise
        self._opened = True

    async def close(self) -> None:
        """Stop listening and close every connection; the store can be opened again."""
        with self._lock:
            listener, self._listener = self._listener, None
            here, self._here = self._here, None
            self._opened = False
        if listener is not None:
            await asyncio.to_thread(listener.stop)
        self._settlers.take_all()
        if here is not None:
            here.close()
        await self._pools.close()

    def _listening_wanted(self) -> bool:
        return self.changes.has_waiters or self.remote_events.has_listeners

    def _want_listening(self, wait: float = 0.0) -> None:
        listener = self._listener
        if listener is not None:
            listener.want(wait)

    def _on_message(self, payload: str) -> None:
        """Wake waiters and pass on other processes' events (on the listener thread)."""
        if payload.startswith(self._own):
            return
        try:
            origin, batch = decode_events(payload)
        except ValueError as exc:
            log.warning("ignored a notification on %s: %s", self._settings.channel, exc)
            return
        if any(event.event not in _QUIET for event in batch):
            self.changes.fire()
        self.remote_events.deliver(origin, batch)

    async def _fetch(self, query: bytes, params: Params) -> list[tuple[Any, ...]]:
        if not self._opened:
            await self.open()
        for last_try in (False, True):
            try:
                async with self._pools.connection() as conn:
                    cursor = await conn.execute(query, params, binary=True)
                    return await cursor.fetchall()
            except psycopg.Error as exc:
                # A statement on a missing table had no effect: once it is back, run it again.
                if last_try or not await self._recreated_schema(exc):
                    raise self._failed(exc) from None
        raise AssertionError("unreachable")

    async def _recreated_schema(self, exc: psycopg.Error) -> bool:
        """If ``exc`` says the schema was dropped, create it again; say if that was done.

        Only with migrating allowed (the default), as a new process would on open.
        """
        if not isinstance(exc, _SCHEMA_GONE) or not self._settings.migrate:
            return False
        return await asyncio.to_thread(self._recreate_schema, exc)

    def _recreate_schema(self, exc: psycopg.Error) -> bool:
        """:meth:`_recreated_schema`, blocking."""
        settings = self._settings
        if not isinstance(exc, _SCHEMA_GONE) or not settings.migrate:
            return False
        try:
            with connect(settings) as conn:
                recreated = bool(check_and_migrate(conn, settings.schema, allowed=True))
        except (ConveyorError, psycopg.Error):
            return False
        if recreated:
            log.warning("schema %s was dropped while in use: created it again", settings.schema)
        return recreated

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """Lend a pooled connection inside one transaction; driver errors become ours."""
        if not self._opened:
            await self.open()
        try:
            async with self._pools.connection() as conn, conn.transaction():
                yield conn
        except psycopg.Error as exc:
            await self._recreated_schema(exc)  # for the next call: this one raises
            raise self._failed(exc) from None

    def _failed(self, exc: psycopg.Error) -> ConveyorError:
        """Return the error to raise for a driver error (a broken pool is checked soon).

        A server that refuses to write (``25006``: a standby, or a primary that a
        failover demoted) has every connection replaced, the listener's too. Either way
        the calling threads' idle connections (:meth:`_fetch_here`) are closed.
        """
        if isinstance(exc, psycopg.OperationalError):
            self._pools.check_soon()
        elif isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
            self._pools.reconnect_soon()
            if (listener := self._listener) is not None:
                listener.reconnect()
        if (here := self._here) is not None and isinstance(exc, _BROKEN_OR_READ_ONLY):
            here.drop_idle()  # the calling threads' connections are likely broken too
        return self._settings.unavailable(exc)

    # -- on the calling thread -----------------------------------------------------------

    @property
    def writes_here(self) -> bool:
        """True once the store is open (its schema checked): :meth:`_fetch_here` then works."""
        return self._opened

    def _fetch_here(self, query: bytes, params: Params) -> bool:
        """Run one statement as :meth:`_fetch` does, on the calling thread, blocking.

        False, having done nothing, where the event loop must run it: the store was
        closed meanwhile, or every connection for calling threads is lent.
        """
        for last_try in (False, True):
            here = self._blocking_connections()
            try:
                conn = None if here is None else here.take()
            except BackendUnavailableError:
                self._pools.everywhere_soon()  # unreachable: the loops' connections broke too
                raise
            if here is None or conn is None:
                return False
            error: psycopg.Error | None = None
            try:
                conn.execute(query, params, binary=True)
            except psycopg.Error as exc:
                error = exc
            finally:
                here.give_back(conn)  # closed unless fine (an interrupt may leave it busy)
            if error is None:
                return True
            # A statement on a missing table had no effect: once it is back, run it again.
            if last_try or not self._recreate_schema(error):
                raise self._failed_here(here, error) from None
        raise AssertionError("unreachable")

    def _blocking_connections(self) -> BlockingConnections | None:
        """Return this process's connections for calling threads (made again after a fork).

        ``None`` once the store is closed.
        """
        here = self._here
        if here is not None and here.usable:
            return here
        with self._lock:
            if not self._opened:
                return None
            old = here = self._here
            if here is None or not here.usable:
                here = self._here = BlockingConnections(self._settings)
                if old is not None:
                    old.close()  # a parent's: forgotten, not closed (see its close())
        return here

    def _failed_here(self, here: BlockingConnections, exc: psycopg.Error) -> ConveyorError:
        """:meth:`_failed` for a statement of the calling thread (and the loops' pools)."""
        if isinstance(exc, _BROKEN_OR_READ_ONLY):
            here.drop_idle()
            read_only = isinstance(exc, psycopg.errors.ReadOnlySqlTransaction)
            self._pools.everywhere_soon(reconnect=read_only)
            if read_only and (listener := self._listener) is not None:
                listener.reconnect()
        return self._settings.unavailable(exc)

    def _insert_for(self, records: Sequence[JobRecord]) -> bytes:
        """Return the statement that stores new jobs ``records`` (parameters: record_params)."""
        # Two statements, kept for speed: bench/shortcuts.py one-insert (enqueue +21 %).
        return self._q.enqueue_one if len(records) == 1 else self._q.enqueue_many


_SUBSCRIBE_WAIT = 0.25
"""Seconds ``remote_events.subscribe`` waits for the listener to LISTEN."""


class _Callback(threading.Event):
    """The ``on_first_waiter`` of the store's ``changes``: its ``set()`` calls ``callback``.

    Every ``changes.wait`` sets it once its waiter is registered: the listener then starts
    listening if it does not (and fires the signal once it does).
    """

    def __init__(self, callback: Callable[[], None]) -> None:
        super().__init__()
        self._callback = callback

    def set(self) -> None:
        """Call the callback (the event itself stays clear)."""
        self._callback()


class _RemoteEvents(RemoteEvents):
    """:class:`RemoteEvents` that has the listener start listening on ``subscribe``."""

    def __init__(self, on_subscribe: Callable[[], None]) -> None:
        super().__init__()
        self._on_subscribe = on_subscribe

    def subscribe(self, listener: RemoteListener) -> None:
        """Call ``listener(event)`` for every event another process publishes."""
        super().subscribe(listener)
        self._on_subscribe()
