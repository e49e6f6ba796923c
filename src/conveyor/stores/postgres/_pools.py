"""One connection pool per event loop: asyncio connections belong to the loop that made them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from ..base import PerLoop
from ._url import CONNECT_TIMEOUT, Settings

log = logging.getLogger("conveyor.stores.postgres")

AsyncConnection = psycopg.AsyncConnection[Any]
_CLOSE_TIMEOUT = 5.0


class LoopPools:
    """Autocommit connections that prepare every statement, pooled per event loop."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._pools: PerLoop[AsyncConnectionPool[AsyncConnection]] = PerLoop(self._make)
        self._checks: set[asyncio.Task[None]] = set()

    def _make(self) -> AsyncConnectionPool[AsyncConnection]:
        return AsyncConnectionPool(
            self._settings.conninfo,
            min_size=1,
            max_size=self._settings.pool_size,
            kwargs={"autocommit": True, "prepare_threshold": 0},
            open=False,
            timeout=CONNECT_TIMEOUT,
            name=f"conveyor-{self._settings.schema}",
        )

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """Lend a connection of the running loop's pool (opened on first use)."""
        pool = self._pools.get()
        if pool.closed:
            await pool.open()
        async with pool.connection() as conn:
            yield conn

    def check_soon(self) -> None:
        """After a connection failed: drop the running loop's broken connections at once.

        A server restart breaks every pooled connection; without this each would fail
        one more operation before the pool noticed.
        """
        pool = self._pools.get()
        if not pool.closed:
            task = asyncio.create_task(pool.check())
            self._checks.add(task)
            task.add_done_callback(self._checks.discard)

    async def close(self) -> None:
        """Close every loop's pool; a loop that no longer runs drops its pool with itself."""
        current = asyncio.get_running_loop()
        for loop, pool in self._pools.take_all():
            if loop is current:
                await pool.close(_CLOSE_TIMEOUT)
            elif loop.is_running():
                closing = asyncio.run_coroutine_threadsafe(pool.close(_CLOSE_TIMEOUT), loop)
                try:
                    await asyncio.wait_for(asyncio.wrap_future(closing), _CLOSE_TIMEOUT * 2)
                except (TimeoutError, RuntimeError) as exc:
                    log.warning("could not close a connection pool of another loop: %r", exc)
