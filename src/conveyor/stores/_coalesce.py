"""Merging of concurrent calls into one round trip (group commit, without a delay).

Workers settle each job on its own; with ten jobs finishing together that would be ten
round trips and ten commits. The shared stores send the outcomes through a
:class:`Coalescer`: the first call goes out at once, the calls made while it is in
flight go out together as the next batch, so no call waits for a timer and under load
each round trip carries many.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
Waiting = tuple[Sequence[T], "asyncio.Future[list[R]]"]
"""A call's items and the future of their answers."""


class Coalescer(Generic[T, R]):
    """Sends the items of concurrent :meth:`submit` calls of one event loop together.

    A call made while no batch is in flight goes out at once (in a task of its own);
    calls made meanwhile wait and go out together as the next batch. ``send(items)``
    returns one answer per item; each caller gets the answers to its own items, or
    the exception the batch raised.
    """

    def __init__(self, send: Callable[[list[T]], Awaitable[list[R]]]) -> None:
        self._send = send
        self._queued: list[Waiting[T, R]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def submit(self, items: Sequence[T]) -> list[R]:
        """Send ``items`` with whatever else is queued; return their answers."""
        future: asyncio.Future[list[R]] = asyncio.get_running_loop().create_future()
        self._queued.append((items, future))
        if self._flushing is None:
            self._flushing = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self._queued:
                batch, self._queued = self._queued, []
                await self._send_batch(batch)
        except BaseException:
            # Cancelled (the loop is closing): nobody is left to send what still waits.
            for _, future in self._queued:
                future.cancel()
            self._queued = []
            raise
        finally:
            self._flushing = None

    def take(self) -> list[Waiting[T, R]]:
        """Take the calls queued for the next batch, to send them with another command.

        The taker answers them with :meth:`answer` (or :meth:`fail`); a batch in flight
        is not touched.
        """
        taken, self._queued = self._queued, []
        return taken

    def give_back(self, taken: list[Waiting[T, R]]) -> None:
        """Queue calls :meth:`take` took again (their sending was cut short)."""
        self._queued[:0] = taken
        if self._queued and self._flushing is None:
            self._flushing = asyncio.create_task(self._flush())

    async def _send_batch(self, batch: list[Waiting[T, R]]) -> None:
        try:
            answers = await self._send([item for items, _ in batch for item in items])
        except BaseException as exc:
            self.fail(batch, exc)
            if not isinstance(exc, Exception):
                raise
            return
        self.answer(batch, answers)

    @staticmethod
    def answer(batch: list[Waiting[T, R]], answers: list[R]) -> None:
        """Give each call of ``batch`` the answers to its own items, in order."""
        start = 0
        for items, future in batch:
            if not future.done():
                future.set_result(answers[start : start + len(items)])
            start += len(items)

    @staticmethod
    def fail(batch: list[Waiting[T, R]], exc: BaseException) -> None:
        """Make every call of ``batch`` raise ``exc``."""
        for _, future in batch:
            if not future.done():
                future.set_exception(exc)
