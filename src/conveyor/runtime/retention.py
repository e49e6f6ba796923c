"""Pruning: finished jobs are deleted once they are older than the queue keeps them.

``keep_completed`` applies to completed jobs, ``keep_failed`` to failed and cancelled
ones; each is set per queue (:func:`~conveyor.create_queue`) and may be overridden per
handler (``queue.register(name, fn, keep_completed=...)``). Every process that starts
the queue prunes now and then, in small batches with pauses between them, so that a
store does not grow without bound and workers are never held up by a large purge.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

from ..definitions.retention import PRUNED, Retention
from ..stores.base import JobStore
from ..stores.records import JobMatch
from .tasks import Background

log = logging.getLogger("conveyor.retention")

PRUNE_EVERY = 60.0
"""Seconds between two prunes of a started queue."""
PRUNE_BATCH = 500
"""Jobs deleted per store call."""
PRUNE_PAUSE = 0.05
"""Seconds between two batches of one prune."""


class Pruner:
    """Deletes a queue's finished jobs past their retention, every :data:`PRUNE_EVERY` s.

    ``handlers()`` gives the retention of handlers that have one of their own.
    """

    def __init__(
        self,
        store: JobStore,
        queue: str,
        retention: Retention,
        handlers: Callable[[], Mapping[str, Retention]],
    ) -> None:
        self.store = store
        self.queue = queue
        self.retention = retention
        self._handlers = handlers
        self._loop = Background("pruner", self._run)

    def start(self) -> None:
        """Prune now and then in a task of the running loop (if anything is to be pruned)."""
        if self._matches():
            self._loop.start()

    async def stop(self) -> None:
        """Stop pruning."""
        await self._loop.stop()

    async def _run(self) -> None:
        while True:
            try:
                await self.prune()
            except Exception:
                log.exception("pruning queue %r failed; trying again later", self.queue)
            await asyncio.sleep(PRUNE_EVERY)

    async def prune(self) -> int:
        """Delete every job past its retention now; return how many."""
        total = 0
        for match in self._matches():
            while True:
                deleted = await self.store.delete_jobs(match, PRUNE_BATCH)
                total += deleted
                if deleted < PRUNE_BATCH:
                    break
                await asyncio.sleep(PRUNE_PAUSE)
        if total:
            log.info("pruned %d finished job(s) of queue %r", total, self.queue)
        return total

    def _matches(self) -> list[JobMatch]:
        """One match per status and retention: each handler's own, then the queue's."""
        now = self.store.clock.now()
        handlers = self._handlers()
        matches = []
        for status in PRUNED:
            own: dict[str, float] = {}
            for name, retention in handlers.items():
                if (keep := retention.keep(status)) is not None:
                    own[name] = keep
                    matches.append(JobMatch(self.queue, status, name=name, before=now - keep))
            if (keep := self.retention.keep(status)) is not None:
                skip = tuple(own)
                matches.append(JobMatch(self.queue, status, skip_names=skip, before=now - keep))
        return matches
