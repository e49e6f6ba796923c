"""Opt-in fairness: pending jobs that wait long go up one priority level at a time.

Strict priority is the default: a steady stream of HIGH jobs keeps LOW ones waiting
for as long as it lasts. With ``create_queue(..., age_after=seconds)``, every started
queue looks now and then for pending jobs that have waited ``age_after`` seconds at
their level and raises them one level (LOW → NORMAL → HIGH → CRITICAL), their wait at
the new level counting from then; FIFO within a level then lets them through.
"""

from __future__ import annotations

import asyncio
import logging

from ..errors import ConveyorError
from ..stores.base import JobStore
from .tasks import Background

log = logging.getLogger("conveyor.aging")

AGE_BATCH = 1000
"""Jobs raised per store call."""
MOST_EVERY = 5.0
"""The longest pause between two looks, in seconds."""


class Ager:
    """Raises a queue's long-waiting pending jobs, in a task of the running loop."""

    def __init__(self, store: JobStore, queue: str, age_after: float) -> None:
        self.store = store
        self.queue = queue
        self.age_after = age_after
        self._loop = Background("ager", self._run)

    def start(self) -> None:
        """Look every ``age_after / 4`` seconds (at most :data:`MOST_EVERY`)."""
        self._loop.start()

    async def stop(self) -> None:
        """Stop looking."""
        await self._loop.stop()

    async def _run(self) -> None:
        every = min(self.age_after / 4, MOST_EVERY)
        while True:
            try:
                await self.age()
            except ConveyorError as exc:
                log.debug("aging of queue %r failed: %s", self.queue, exc)
            await asyncio.sleep(every)

    async def age(self) -> int:
        """Raise every job that waited long enough now; return how many."""
        before = self.store.clock.now() - self.age_after
        total = 0
        while True:
            raised = await self.store.age_jobs(self.queue, before, AGE_BATCH)
            total += raised
            if raised < AGE_BATCH:
                return total
