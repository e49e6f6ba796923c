"""Help for testing code that uses conveyor: the app's queue, in memory, on a clock you move.

::

    from conveyor.testing import QueueTester

    def test_signup_sends_a_welcome_email(client):
        with QueueTester(app.queue) as jobs:          # the app's own queue object
            client.post("/signup", json={"email": "a@example.com"})
            jobs.sync.assert_enqueued("send-email", payload={"to": "a@example.com"})
            [done] = jobs.sync.drain()                # runs it here, now
            assert done.status is JobStatus.COMPLETED
            jobs.sync.advance(timedelta(days=30))     # a month of cron ticks, retries, delays

While a :class:`QueueTester` is active, the queue keeps its handlers and schedules but
stores its jobs in memory (``memory://``) under a :class:`~conveyor.clock.FrozenClock`:
nothing reaches the real store, and time only moves when the test moves it. Delays,
retries' backoff and recurring schedules follow that clock; handlers' ``timeout`` runs
in real time (keep them short in tests). With ``inline=True`` every enqueue runs the job
(and what it enqueues) before it returns. Every method is a coroutine, for async tests
(``async with QueueTester(queue) as jobs: await jobs.drain()``), with a blocking twin
on ``jobs.sync`` for plain ones (``with``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from . import events
from .client.queue import Queue
from .clock import FrozenClock
from .definitions.hooks import Hook
from .job import Job, JobStatus
from .retry import check_seconds
from .runtime.scheduler import Scheduler
from .stores import Store, store_from_url

__all__ = ["ANY", "QueueTester", "queue_fixture"]

T = TypeVar("T")
_FINISHED = (events.JOB_COMPLETED, events.JOB_FAILED, events.JOB_CANCELLED)
_WAITING = (JobStatus.PENDING, JobStatus.SCHEDULED)
Statuses = JobStatus | str | Sequence[JobStatus | str]


class _Any:
    def __eq__(self, other: object) -> bool:
        return True

    def __repr__(self) -> str:
        return "ANY"


ANY: Any = _Any()
"""Matches any payload in :meth:`QueueTester.assert_enqueued`."""


class QueueTester:
    """Runs a queue in memory on a controllable clock, for the length of a test.

    ``now`` is where the clock starts (an aware ``datetime`` or epoch seconds; default
    2030-01-01 UTC, a Tuesday).
    """

    def __init__(
        self, queue: Queue, *, now: datetime | float | None = None, inline: bool = False
    ) -> None:
        start = now.timestamp() if isinstance(now, datetime) else now
        self.queue = queue
        self.clock = FrozenClock(1_893_456_000.0 if start is None else float(start))
        self.inline = inline
        self._saved_store: Store | None = None
        self._scheduler: Scheduler | None = None
        self._finished: list[Job] = []
        self._inline = _RunInline(self)

    # -- entering and leaving ----------------------------------------------------------

    async def __aenter__(self) -> QueueTester:
        await self.begin()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.end()

    def __enter__(self) -> QueueTester:
        self._call(self.begin())
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._call(self.end())
        self.queue.sync.portal.close()

    async def begin(self) -> None:
        """Swap the queue's store for memory; jobs run only when the test drains them."""
        self._saved_store = self.queue.store
        self.queue.point_at(store=store_from_url("memory://", self.clock))
        for event in _FINISHED:
            self.queue.on(event, self._finished.append)
        if self.inline:
            self.queue.hooks.add(self._inline)
        self._scheduler = self.queue.make_scheduler(clock=self.clock)
        if self._scheduler is not None:
            await self._scheduler.register()

    async def end(self) -> None:
        """Give the queue its store back."""
        self.queue.hooks.remove(self._inline)
        for event in _FINISHED:
            self.queue.off(event, self._finished.append)
        if self._saved_store is not None:
            self.queue.point_at(store=self._saved_store)

    # -- moving ------------------------------------------------------------------------

    async def drain(self, timeout: float = 10.0) -> list[Job]:
        """Run every job that is due now, and what those enqueue, until none is due.

        Returns the jobs that finished meanwhile (completed, failed or cancelled); a
        job that failed and will be retried later is not among them. Raises
        ``TimeoutError`` if jobs are still running after ``timeout`` seconds.
        """
        start = len(self._finished)
        store = self.queue.store
        await self.queue.start(run_schedules=False)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    generation = store.changes.generation
                    stats = await store.stats(self.queue.name)
                    due = await store.next_due([self.queue.name])
                    if stats.pending == stats.processing == 0 and (
                        due is None or due > self.clock.now()
                    ):
                        break
                    await store.changes.wait(0.01, since=generation)
        finally:
            await self.queue.stop(timeout=1.0)  # and the finished events are delivered
        return self._finished[start:]

    async def advance(self, by: float | timedelta) -> list[Job]:
        """Move the clock ``by`` ahead, stopping at each due job or cron tick on the way.

        At each stop the tick fires and what is due runs. Returns the jobs that finished.
        """
        target = self.clock.now() + check_seconds(by, "by")
        finished = await self.drain()
        while True:
            moment = await self._next_moment()
            if moment is None or moment > target:
                break
            self.clock.advance(max(0.0, moment - self.clock.now()))
            finished += await self._fire_and_drain()
        self.clock.advance(max(0.0, target - self.clock.now()))
        return finished + await self._fire_and_drain()

    async def _next_moment(self) -> float | None:
        moments = []
        due = await self.queue.store.next_due([self.queue.name])
        if due is not None:
            moments.append(due)
        if self._scheduler is not None and (tick := self._scheduler.next_tick()) is not None:
            moments.append(tick / 1000)
        return min(moments, default=None)

    async def _fire_and_drain(self) -> list[Job]:
        if self._scheduler is not None:
            await self._scheduler.resync()
            await self._scheduler.fire_due()
        return await self.drain()

    # -- looking -----------------------------------------------------------------------

    async def jobs(
        self,
        status: JobStatus | str | Sequence[JobStatus | str] = _WAITING,
        name: str | None = None,
    ) -> list[Job]:
        """Return the queue's jobs in ``status`` (default: pending and scheduled)."""
        statuses = [status] if isinstance(status, JobStatus | str) else list(status)
        found: list[Job] = []
        for each in statuses:
            found += await self.queue.get_jobs_by_status(each, limit=100_000)
        return [job for job in found if name is None or job.name == name]

    async def assert_enqueued(self, name: str, payload: Any = ANY, **config: Any) -> Job:
        """Return the waiting job called ``name`` with ``payload`` (and ``config`` fields).

        ``config``: e.g. ``priority=JobPriority.HIGH``. Raises ``AssertionError`` listing
        the waiting jobs if there is none.
        """
        waiting = await self.jobs()
        for job in waiting:
            fields = all(getattr(job.config, key) == value for key, value in config.items())
            if job.name == name and payload == job.payload and fields:
                return job
        seen = ", ".join(f"{job.name}({job.payload!r})" for job in waiting) or "none"
        raise AssertionError(
            f"no waiting job {name!r} with payload {payload!r} {config or ''}; waiting: {seen}"
        )

    # -- blocking twins ----------------------------------------------------------------

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.queue.sync.portal.call(coroutine)

    @property
    def sync(self) -> _SyncTester:
        """Blocking twins of the tester's coroutines (``jobs.sync.drain()``)."""
        return _SyncTester(self)


class _SyncTester:
    def __init__(self, tester: QueueTester) -> None:
        self._tester = tester

    def drain(self, timeout: float = 10.0) -> list[Job]:
        return self._tester._call(self._tester.drain(timeout))

    def advance(self, by: float | timedelta) -> list[Job]:
        return self._tester._call(self._tester.advance(by))

    def jobs(
        self,
        status: JobStatus | str | Sequence[JobStatus | str] = _WAITING,
        name: str | None = None,
    ) -> list[Job]:
        return self._tester._call(self._tester.jobs(status, name))

    def assert_enqueued(self, name: str, payload: Any = ANY, **config: Any) -> Job:
        return self._tester._call(self._tester.assert_enqueued(name, payload, **config))


def queue_fixture(queue: Queue, **options: Any) -> Any:
    """Make a pytest fixture that yields a :class:`QueueTester` of ``queue``.

    In a ``conftest.py``: ``jobs = queue_fixture(app.queue)``; a test then takes
    ``jobs`` and calls ``jobs.sync.drain()``, ``jobs.sync.assert_enqueued(...)``...
    """
    import pytest

    @pytest.fixture
    def fixture() -> Any:
        with QueueTester(queue, **options) as tester:
            yield tester

    return fixture


class _RunInline(Hook):
    """With ``inline=True``: every enqueue runs what is due before it returns."""

    def __init__(self, tester: QueueTester) -> None:
        self._tester = tester

    async def after_enqueue(self) -> None:
        """Drain the queue, unless it runs already (a job's own enqueues join that drain)."""
        if not self._tester.queue.is_running:
            await self._tester.drain()
