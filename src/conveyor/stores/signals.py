"""How a store tells this process's waiters that its jobs may have changed."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from .records import JobRecord


@dataclass(slots=True)
class _Waiter:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None] = field(repr=False)


class ChangeSignal:
    """Wakes every coroutine waiting for a change, from any thread or event loop.

    Read :attr:`generation` before looking at the store and pass it to :meth:`wait`:
    a change that happened in between then returns at once instead of being missed.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: list[_Waiter] = []
        self.generation = 0
        """How many times the signal fired: read it before looking, pass it as ``since``."""
        self.on_first_waiter: threading.Event | None = None
        """Set whenever a waiter registers (a store's watcher thread can sleep on it)."""

    @property
    def has_waiters(self) -> bool:
        """True while at least one coroutine waits."""
        return bool(self._waiters)

    async def wait(self, timeout: float, since: int | None = None) -> None:
        """Wait until :meth:`fire` is called or ``timeout`` seconds pass.

        With ``since``, return at once if the signal fired after that generation.
        """
        with self.watching(timeout, since) as changed:
            await changed

    @contextmanager
    def watching(self, timeout: float, since: int | None = None) -> Iterator[asyncio.Future[None]]:
        """Give a future that the next :meth:`fire`, or ``timeout`` seconds, resolves.

        With ``since``, it is resolved already if the signal fired after that generation.
        A future, not a task: a fire reaches its awaiter through one callback (wait_for
        and shield each added a turn of the loop), and leaving the block needs no cancel.
        """
        loop = asyncio.get_running_loop()
        waiter = _Waiter(loop, loop.create_future())
        with self._lock:
            if since is not None and since != self.generation:
                waiter.future.set_result(None)
            else:
                self._waiters.append(waiter)
        if not waiter.future.done() and self.on_first_waiter is not None:
            self.on_first_waiter.set()
        timer = loop.call_later(timeout, _resolve, waiter.future)
        try:
            yield waiter.future
        finally:
            timer.cancel()
            with self._lock:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def fire(self) -> None:
        """Wake every current waiter."""
        with self._lock:
            self.generation += 1
            waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if waiter.loop.is_closed():
                continue
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is waiter.loop:
                _resolve(waiter.future)
            else:
                waiter.loop.call_soon_threadsafe(_resolve, waiter.future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class ClaimsAfterWaking:
    """For stores whose idle workers wait for the change signal, then claim."""

    changes: ChangeSignal

    async def wait_for_work(
        self,
        queues: Sequence[str],
        limit: int,
        worker_id: str,
        lease: float,
        timeout: float,
        since: int,
    ) -> list[JobRecord]:
        """Wait for a change after generation ``since`` (or ``timeout``); claim nothing."""
        await self.changes.wait(timeout, since=since)
        return []
