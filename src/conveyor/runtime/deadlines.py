"""Jobs' time limits: the handlers running in one event loop, watched by one timer.

``asyncio.timeout`` arms a timer of the loop for each job and disarms it when the job
ends; for jobs that end in microseconds that was a quarter of a worker's time
(bench/README.md, "time limits"). :class:`Deadlines` notes each running handler's
deadline in a dict (bounded by the worker's concurrency) and keeps one timer, armed
for the earliest deadline it knows of. When it fires, it cancels the handlers past
their deadline and arms itself again for the earliest of the others. A job that ends
in time only leaves the dict.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable
from typing import TypeVar

from ..errors import JobTimeoutError

T = TypeVar("T")


class Deadlines:
    """The time limits of the handlers running in one event loop (see the module)."""

    def __init__(self) -> None:
        self._watched: dict[asyncio.Task[object], float] = {}
        """The tasks awaiting a handler, with their deadlines (``loop.time()``)."""
        self._expired: set[asyncio.Task[object]] = set()
        """The tasks this cancelled for their deadline, until they saw it."""
        self._timer: asyncio.TimerHandle | None = None
        self._due = math.inf
        """When the timer fires (``math.inf``: not armed)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        """The loop of the timer (a worker started again may run in another)."""

    async def limit(self, awaitable: Awaitable[T], seconds: float, job_id: str) -> T:
        """Await ``awaitable``; cancel it and raise :class:`JobTimeoutError` after ``seconds``.

        A cancellation from elsewhere (the job was cancelled, the worker stops) stays a
        cancellation, even if the deadline passed too; a handler's own ``TimeoutError``
        stays its own; a handler that catches the cancellation and returns has its
        value returned, as with ``asyncio.timeout``.
        """
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("Deadlines.limit() must run in a task")
        loop = asyncio.get_running_loop()
        cancels_before = task.cancelling()
        deadline = loop.time() + seconds
        self._watched[task] = deadline
        if deadline < self._due or loop is not self._loop:
            self._arm(loop, deadline)
        try:
            value = await awaitable
        except asyncio.CancelledError:
            if self._saw_expiry(task) and task.cancelling() <= cancels_before:
                raise JobTimeoutError(f"job {job_id} timed out after {seconds:g} s") from None
            raise
        finally:
            self._watched.pop(task, None)
        self._saw_expiry(task)
        return value

    def _saw_expiry(self, task: asyncio.Task[object]) -> bool:
        """Take back this object's cancel of ``task``, if it made one; say whether it did."""
        if task not in self._expired:
            return False
        self._expired.discard(task)
        task.uncancel()
        return True

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._due, self._loop = when, loop
        self._timer = loop.call_at(when, self._fire, loop)

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer, self._due = None, math.inf
        now = loop.time()
        earliest = math.inf
        for task, deadline in tuple(self._watched.items()):
            if deadline <= now:
                del self._watched[task]
                self._expired.add(task)
                task.cancel()
            elif deadline < earliest:
                earliest = deadline
        if earliest < math.inf:
            self._arm(loop, earliest)
