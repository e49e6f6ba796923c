"""Concurrent calls of one event loop merged into one statement (group commit).

The worker settles each job on its own; with ten jobs finishing together that would be
ten statements and ten commits. A :class:`Coalescer` runs the first call at once and
gathers the calls made while it runs into the next batch: no call waits for a timer,
and under load each statement carries many.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
_Waiting = tuple[Sequence[T], "asyncio.Future[list[R]]"]


class Coalescer(Generic[T, R]):
    """Runs ``run(items)`` for the items of every call waiting, one batch at a time.

    ``run`` returns one result per item, in order; each caller gets the results of its
    own items, or the exception its batch raised. Bound to the event loop it is used on.
    """

    def __init__(self, run: Callable[[list[T]], Awaitable[list[R]]]) -> None:
        self._run = run
        self._waiting: list[_Waiting[T, R]] = []
        self._task: asyncio.Task[None] | None = None

    async def submit(self, items: Sequence[T]) -> list[R]:
        """Run ``items`` in the next batch; return their results."""
        future: asyncio.Future[list[R]] = asyncio.get_running_loop().create_future()
        self._waiting.append((items, future))
        if self._task is None:
            self._task = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        batch: list[_Waiting[T, R]] = []
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                await self._run_batch(batch)
        except BaseException:
            for _, future in batch + self._waiting:
                future.cancel()
            raise
        finally:
            self._task = None

    async def _run_batch(self, batch: list[_Waiting[T, R]]) -> None:
        try:
            results = await self._run([item for items, _ in batch for item in items])
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        start = 0
        for items, future in batch:
            if not future.done():
                future.set_result(results[start : start + len(items)])
            start += len(items)
