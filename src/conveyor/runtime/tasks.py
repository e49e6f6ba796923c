"""Ending background tasks for sure.

A cancellation can be lost: when the result a task awaits lands in the same turn of the
event loop as ``cancel()``, some libraries finish the operation and return instead of
raising :class:`asyncio.CancelledError`. A loop that then goes on sleeping would keep a
``stop()`` waiting for ever, so :func:`cancel_and_wait` asks again until the task ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

AGAIN_EVERY = 0.1
"""Seconds between two requests to end a task that is still running."""


async def cancel_and_wait(
    tasks: Iterable[asyncio.Task[Any]],
    *,
    cancel_while: Callable[[asyncio.Task[Any]], bool] = lambda task: True,
) -> None:
    """Cancel ``tasks`` and wait until every one has ended; their errors are dropped.

    A task is cancelled only while ``cancel_while(task)`` is true (false once it does
    something that must finish), and again every :data:`AGAIN_EVERY` seconds while
    it runs on.
    """
    everything = set(tasks)
    pending = everything
    while pending:
        for task in pending:
            if cancel_while(task):
                task.cancel()
        _, pending = await asyncio.wait(pending, timeout=AGAIN_EVERY)
    await asyncio.gather(*everything, return_exceptions=True)


class Background:
    """One task of the running loop that a component starts once and stops for sure."""

    def __init__(self, name: str, run: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._name = name
        self._run = run
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the task (once; starting it again while it runs does nothing)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        """Cancel the task and wait until it has ended (see :func:`cancel_and_wait`)."""
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait([task])
