"""A queue's runtime in this process: the worker and the loops beside it, start to stop.

:class:`Lifecycle` starts the worker (claim, run, settle), the scheduler of recurring
schedules, the pruner of finished jobs and, where aging is on, the ager; and stops them
in the reverse order, the worker last, so that nothing is claimed that no one runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from ..clock import Clock
from ..definitions.handlers import HandlerRegistry
from ..definitions.hooks import Hooks
from ..definitions.retention import FOR_EVER, Retention
from ..events import EventEmitter
from ..job import Job
from ..runtime.aging import Ager
from ..runtime.retention import Pruner
from ..runtime.scheduler import JobMaker, Scheduler
from ..runtime.worker import Worker
from ..serializers import Serializer
from ..stores import Store
from ..stores.records import JobRecord
from .schedules import Schedules


class Owner(Protocol):
    """What the runtime reads of its queue."""

    @property
    def name(self) -> str:
        """The queue's name."""
        ...

    @property
    def store(self) -> Store:
        """The queue's store (read on each use: :meth:`Queue.point_at` may change it)."""
        ...

    lease: float
    serializer: Serializer
    emitter: EventEmitter
    hooks: Hooks
    handlers: HandlerRegistry
    retention: Retention
    age_after: float | None


class Lifecycle:
    """Starts and stops one queue's runtime in this process (see the module docstring).

    ``to_job`` reads a claimed record as a handler sees it; ``continue_chain`` enqueues
    a chain's next step; ``tick_jobs`` builds a schedule's tick jobs, ``announce`` tells
    of jobs this process stored.
    """

    def __init__(
        self,
        owner: Owner,
        schedules: Schedules,
        *,
        to_job: Callable[[JobRecord], Job],
        continue_chain: Callable[[Job, Any], Awaitable[None]],
        tick_jobs: JobMaker,
        announce: Callable[[Sequence[JobRecord]], None],
    ) -> None:
        self._owner = owner
        self._schedules = schedules
        self._to_job = to_job
        self._continue_chain = continue_chain
        self._tick_jobs = tick_jobs
        self._announce = announce
        self.worker: Worker | None = None
        """The running worker, from :meth:`start` to :meth:`stop`."""
        self._scheduler: Scheduler | None = None
        self._pruner: Pruner | None = None
        self._ager: Ager | None = None
        self._stopping: Worker | None = None

    async def start(self, queues: Sequence[str], concurrency: int, run_schedules: bool) -> None:
        """Open the store and start the worker on ``queues`` and the loops beside it."""
        owner = self._owner
        await owner.store.open()
        worker = Worker(
            store=owner.store,
            handlers={name: h for name in owner.handlers if (h := owner.handlers.get(name))},
            queues=list(queues),
            concurrency=concurrency,
            lease=owner.lease,
            serializer=owner.serializer,
            emitter=owner.emitter,
            make_job=self._to_job,
            hooks=owner.hooks,
            continue_chain=self._continue_chain,
        )
        worker.start()
        self.worker = worker
        if run_schedules and (scheduler := self.make_scheduler()) is not None:
            self._scheduler = scheduler
            self._schedules.frozen = True
            scheduler.start()
        self._pruner = self.pruner()
        self._pruner.start()
        if owner.age_after is not None:
            self._ager = Ager(owner.store, owner.name, owner.age_after)
            self._ager.start()

    def make_scheduler(self, clock: Clock | None = None) -> Scheduler | None:
        """Make a scheduler of the queue's recurring schedules, not started (None: none)."""
        if not self._schedules:
            return None
        owner = self._owner
        return Scheduler(
            owner.store, owner.name, self._schedules, self._tick_jobs, self._announce, clock=clock
        )

    def pruner(self) -> Pruner:
        """Make a pruner of the queue's finished jobs past their retention, not started."""
        owner = self._owner
        return Pruner(owner.store, owner.name, owner.retention, self._handler_retention)

    def _handler_retention(self) -> dict[str, Retention]:
        handlers = self._owner.handlers
        found = {}
        for name in handlers:
            handler = handlers.get(name)
            if handler is not None and handler.retention != FOR_EVER:
                found[name] = handler.retention
        return found

    async def stop(self, limit: float | None) -> bool:
        """Stop the loops, then the worker (running jobs put back at ``limit`` seconds).

        False if nothing was running.
        """
        worker, self.worker = self.worker, None
        if worker is None:
            return False
        scheduler, self._scheduler = self._scheduler, None
        self._schedules.frozen = False
        if scheduler is not None:
            await scheduler.stop()
        pruner, self._pruner = self._pruner, None
        if pruner is not None:
            await pruner.stop()
        ager, self._ager = self._ager, None
        if ager is not None:
            await ager.stop()
        self._stopping = worker
        try:
            await worker.stop(limit)
        finally:
            self._stopping = None
        return True

    def hurry(self) -> None:
        """Make a :meth:`stop` in progress put running jobs back at once."""
        if self._stopping is not None:
            self._stopping.hurry()
