"""One connection pool per event loop: asyncio connections belong to the loop that made them.

A connection that served a statement and is fine stays with its loop's :class:`Loaned`
instead of going back to the pool, and serves the next statement at once: the pool's
checkout and return (its lock, its bookkeeping, a few more turns of the event loop) cost
as much as a tenth of a single-row enqueue. Those connections go back to the pool when
one of them fails (so that the pool checks them all) and when the store closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool

from ..loops import PerLoop
from ._arrays import register as register_arrays
from ._url import CONNECT_TIMEOUT, Settings

log = logging.getLogger("conveyor.stores.postgres")

AsyncConnection = psycopg.AsyncConnection[Any]
_CLOSE_TIMEOUT = 5.0


@dataclass(eq=False)
class Loaned:
    """One loop's pool and the connections taken out of it that wait for their next use."""

    pool: AsyncConnectionPool[AsyncConnection]
    idle: list[AsyncConnection] = field(default_factory=list)
    waiting: int = 0
    """Statements waiting for the pool to hand them a connection."""

    async def give_back(self) -> None:
        """Return every waiting connection to the pool."""
        idle, self.idle = self.idle, []
        for conn in idle:
            await self.pool.putconn(conn)

    async def close(self, timeout: float) -> None:
        """Return the waiting connections, then close the pool (and them)."""
        await self.give_back()
        await self.pool.close(timeout)


async def _checkout(pool: AsyncConnectionPool[AsyncConnection]) -> AsyncConnection:
    """Take a connection from ``pool``; raise the cancellation that came meanwhile.

    On Python 3.11 ``asyncio.wait_for``, which the pool waits with, returns the
    connection instead of raising when a cancellation and the connection arrive in the
    same turn of the loop; the task would then run on as if never cancelled.
    """
    task = asyncio.current_task()
    cancels = task.cancelling() if task is not None else 0
    conn = await pool.getconn()
    if task is not None and task.cancelling() > cancels:
        await pool.putconn(conn)
        raise asyncio.CancelledError
    return conn


async def _configure(conn: AsyncConnection) -> None:
    register_arrays(conn.adapters)


class LoopPools:
    """Autocommit connections that prepare every statement, pooled per event loop."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._pools: PerLoop[Loaned] = PerLoop(self._make)
        self._checks: set[asyncio.Task[None]] = set()

    def _make(self) -> Loaned:
        return Loaned(self._make_pool())

    def _make_pool(self) -> AsyncConnectionPool[AsyncConnection]:
        return AsyncConnectionPool(
            self._settings.conninfo,
            min_size=1,
            max_size=self._settings.pool_size,
            kwargs={"autocommit": True, "prepare_threshold": 0},
            configure=_configure,
            open=False,
            timeout=CONNECT_TIMEOUT,
            name=f"conveyor-{self._settings.schema}",
        )

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """Lend a connection of the running loop's pool (opened on first use)."""
        loaned = self._pools.get()
        if loaned.idle:
            conn = loaned.idle.pop()
        else:
            if loaned.pool.closed:
                await loaned.pool.open()
            loaned.waiting += 1
            try:
                conn = await _checkout(loaned.pool)
            finally:
                loaned.waiting -= 1
        fine = False
        try:
            yield conn
            fine = conn.pgconn.transaction_status == TransactionStatus.IDLE
        finally:
            # Kept for the next statement, unless others wait for the pool: every
            # connection is out, and only the pool can hand them one.
            if fine and not loaned.waiting:
                loaned.idle.append(conn)
            else:  # the pool passes it on, or rolls back, checks or replaces it
                await loaned.pool.putconn(conn)

    def check_soon(self) -> None:
        """After a connection failed: drop the running loop's broken connections at once.

        A server restart breaks every pooled connection; without this each would fail
        one more operation before the pool noticed.
        """
        self._soon(self._check)

    def reconnect_soon(self) -> None:
        """After the server refused a write: replace every connection of the running loop.

        A failover may have left them on a server that is read-only now; new ones go
        where the URL leads now (the writable host of a URL naming several with
        ``target_session_attrs=read-write``, or a name that resolves elsewhere).
        """
        self._soon(self._reconnect)

    def everywhere_soon(self, *, reconnect: bool = False) -> None:
        """From a thread with no event loop: :meth:`check_soon` in every loop that runs.

        Or :meth:`reconnect_soon`, with ``reconnect``. For a failure of a statement
        that did not go through a loop (``enqueue_here``): its connection broke, and
        so, most likely, did the loops' ones.
        """
        action = self.reconnect_soon if reconnect else self.check_soon
        for loop, _ in self._pools.items():
            if loop.is_running():
                with contextlib.suppress(RuntimeError):  # it closed meanwhile
                    loop.call_soon_threadsafe(action)

    def _soon(self, action: Callable[[Loaned], Coroutine[Any, Any, None]]) -> None:
        loaned = self._pools.get()
        if not loaned.pool.closed:
            task = asyncio.create_task(action(loaned))
            self._checks.add(task)
            task.add_done_callback(self._checks.discard)

    @staticmethod
    async def _check(loaned: Loaned) -> None:
        await loaned.give_back()
        await loaned.pool.check()

    @staticmethod
    async def _reconnect(loaned: Loaned) -> None:
        await loaned.give_back()
        await loaned.pool.drain()  # those out of the pool now are closed on their return

    async def close(self) -> None:
        """Close every loop's pool; a loop that no longer runs drops its pool with itself."""
        current = asyncio.get_running_loop()
        for loop, loaned in self._pools.take_all():
            if loop is current:
                await loaned.close(_CLOSE_TIMEOUT)
            elif loop.is_running():
                closing = asyncio.run_coroutine_threadsafe(loaned.close(_CLOSE_TIMEOUT), loop)
                try:
                    await asyncio.wait_for(asyncio.wrap_future(closing), _CLOSE_TIMEOUT * 2)
                except (TimeoutError, RuntimeError) as exc:
                    log.warning("could not close a connection pool of another loop: %r", exc)
