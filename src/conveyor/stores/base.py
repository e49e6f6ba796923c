"""The store contract: three seams that every store provides on one object.

Every store (memory, SQLite, Redis, PostgreSQL) implements all three: :class:`JobStore`
keeps the jobs, :class:`Coordination` is what processes agree on through the store,
:class:`EventChannel` says when jobs changed. Each store makes its operations atomic,
and every outcome call names the worker and the attempt, so a worker that lost its
lease can never overwrite the new owner's result. The records these methods take and
give are in :mod:`conveyor.stores.records`.

Times here are epoch seconds (``float``) read from the store's :class:`Clock`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from ..clock import Clock
from ..errors import ConfigurationError
from ..job import JobStatus, QueueStats
from .channel import RemoteEvents
from .records import Capabilities, JobMatch, JobRecord, Outcome, Renewal, ScheduleRecord
from .signals import ChangeSignal


class JobStore(Protocol):
    """Where jobs live: enqueue, claim, settle, read and steer them. Each method is atomic."""

    url: str
    """The store's URL with any password masked."""
    clock: Clock
    """The clock every time the store writes is read from."""
    capabilities: Capabilities

    async def open(self) -> None:
        """Connect (or create the file) and migrate the schema; idempotent."""
        ...

    async def close(self) -> None:
        """Release connections and threads; the store can be opened again."""
        ...

    async def enqueue(self, records: Sequence[JobRecord], connection: Any = None) -> None:
        """Store new jobs, all or none.

        With ``connection`` (only where ``capabilities.transactional_enqueue``), insert
        them through the application's own database connection, inside its open
        transaction: they exist if and only if that transaction commits.
        """
        ...

    @property
    def writes_here(self) -> bool:
        """True while :meth:`enqueue_here` works (once the store is open, for most)."""
        ...

    def enqueue_here(self, records: Sequence[JobRecord]) -> bool:
        """Store new jobs as :meth:`enqueue` does, on the calling thread, blocking.

        For threads with no event loop (the ``queue.sync`` methods), and only while
        :attr:`writes_here`. False, having done nothing, if the store is busy (or must do
        something on its event loop first): then :meth:`enqueue` them (on SQLite,
        concurrent enqueues share a commit that way). Outages raise as :meth:`enqueue`'s.
        """
        ...

    async def enqueue_unique(self, record: JobRecord, connection: Any = None) -> str:
        """Store ``record`` unless a job of its queue holds its ``unique_key``.

        Returns the id of the job that holds the key afterwards: ``record.id`` if it was
        stored, the other job's otherwise. Atomic: of several processes enqueuing the same
        key at once, one stores its job and the others get its id. A job holds its key
        while pending, scheduled or processing, and until its ``unique_until``.
        ``connection`` as for :meth:`enqueue`.
        """
        ...

    # -- one attempt -------------------------------------------------------------

    async def claim(
        self, queues: Sequence[str], limit: int, worker_id: str, lease: float
    ) -> list[JobRecord]:
        """Take up to ``limit`` ready jobs, highest priority first, FIFO within one.

        Claimed jobs are PROCESSING, held by ``worker_id`` until ``now + lease``, and
        their ``attempts`` is counted up.
        """
        ...

    async def wait_for_work(
        self,
        queues: Sequence[str],
        limit: int,
        worker_id: str,
        lease: float,
        timeout: float,
        since: int,
    ) -> list[JobRecord]:
        """Wait until work may be ready, for at most ``timeout`` seconds; return jobs claimed.

        An idle worker calls this after a claim found nothing: it returns once
        :attr:`EventChannel.changes` fired after generation ``since`` (at once if it already
        has) or the time is up. A store that can claim on the server the moment work
        arrives returns the jobs so claimed (as :meth:`claim` with the same arguments
        would); the others return ``[]`` and the worker claims next
        (:class:`~conveyor.stores.signals.ClaimsAfterWaking`).
        """
        ...

    async def renew(self, job_ids: Sequence[str], worker_id: str, lease: float) -> Renewal:
        """Extend the leases ``worker_id`` still holds; report lost and cancelled jobs."""
        ...

    async def settle(self, outcomes: Sequence[Outcome]) -> list[bool]:
        """Apply attempt outcomes; each is applied only if its worker still owns it."""
        ...

    async def recover_expired(self) -> list[str]:
        """Put jobs whose lease expired back in the queue (or fail them if out of tries)."""
        ...

    async def cancel(self, job_id: str) -> JobStatus | None:
        """Cancel a pending or scheduled job, or ask its worker to stop a running one.

        Returns the status after the call (CANCELLED, or PROCESSING when the worker
        was asked), or ``None`` when there is no such job or it already finished.
        """
        ...

    async def retry(self, job_id: str) -> bool:
        """Send a failed or cancelled job back to pending with fresh attempts."""
        ...

    async def set_progress(
        self, job_id: str, worker_id: str, percent: float, message: str | None
    ) -> bool:
        """Record progress of a running job held by ``worker_id``."""
        ...

    # -- reading -----------------------------------------------------------------

    async def get(self, job_id: str) -> JobRecord | None:
        """Return one job, or ``None``."""
        ...

    async def list_jobs(
        self, queue: str, status: JobStatus, limit: int, offset: int
    ) -> list[JobRecord]:
        """Return jobs of one status, oldest first."""
        ...

    async def stats(self, queue: str) -> QueueStats:
        """Count the queue's jobs per status."""
        ...

    async def clear_completed(self, queue: str) -> int:
        """Delete the queue's completed jobs; return how many."""
        ...

    async def next_due(self, queues: Sequence[str]) -> float | None:
        """Return the earliest ``run_at`` of the queues' scheduled jobs, if any."""
        ...

    async def age_jobs(self, queue: str, before: float, limit: int) -> int:
        """Raise pending jobs that have waited since ``before`` one priority level.

        Up to ``limit`` jobs of ``queue`` below CRITICAL whose ``run_at`` is older than
        ``before`` go one level up, their ``run_at`` now (their wait at the new level
        starts). Returns how many. The opt-in fairness of ``create_queue(age_after=)``.
        """
        ...

    # -- bulk steering -----------------------------------------------------------

    async def count_jobs(self, match: JobMatch) -> int:
        """Count the jobs ``match`` takes."""
        ...

    async def delete_jobs(self, match: JobMatch, limit: int) -> int:
        """Delete up to ``limit`` of the jobs ``match`` takes (never PROCESSING ones)."""
        ...

    async def retry_jobs(self, match: JobMatch, limit: int) -> int:
        """Send up to ``limit`` FAILED or CANCELLED jobs ``match`` takes back to pending."""
        ...

    async def cancel_jobs(self, match: JobMatch, limit: int) -> int:
        """Cancel up to ``limit`` of the PENDING or SCHEDULED jobs ``match`` takes."""
        ...

    async def delete_job(self, job_id: str) -> bool:
        """Delete one job, unless it is running; False if there is none to delete."""
        ...


class Coordination(Protocol):
    """What workers and schedulers of every process agree on through the store.

    Concurrency slots, rate-limited starts, worker presence and recurring schedules
    (with the exactly-once firing of their ticks). Each method is atomic over every
    process sharing the store.
    """

    clock: Clock
    """The clock of the store's times (the same as :attr:`JobStore.clock`)."""

    async def acquire_slot(self, bucket: str, limit: int, holder: str, ttl: float) -> bool:
        """Take (or keep) one of ``limit`` slots of ``bucket`` for ``holder``, for ``ttl`` s.

        Atomic over every process: at most ``limit`` holders whose time has not run out.
        A holder that has a slot already gets its time renewed and True.
        """
        ...

    async def release_slot(self, bucket: str, holder: str) -> None:
        """Give back ``holder``'s slot of ``bucket`` (nothing if it has none)."""
        ...

    async def take_start(self, bucket: str, interval: float) -> float:
        """Take the next start of ``bucket``, which allows one every ``interval`` seconds.

        Returns 0.0 if taken, else the seconds until one is due. The next start is due
        ``interval`` s after this one was (not after now) if this one came less than an
        interval late, so that starts taken a little late keep the rate; after a longer
        pause, ``interval`` s from now. Atomic over every process, on the store's clock.
        """
        ...

    # -- workers -----------------------------------------------------------------

    async def beat_worker(self, worker_id: str, info: str, ttl: float) -> None:
        """Say that worker ``worker_id`` is alive for ``ttl`` seconds; ``info`` is its JSON."""
        ...

    async def list_workers(self) -> list[str]:
        """Return the JSON info of the workers alive (whose last beat has not expired)."""
        ...

    async def forget_worker(self, worker_id: str) -> None:
        """Forget a worker that stopped."""
        ...

    # -- recurring schedules -----------------------------------------------------

    async def save_schedules(self, records: Sequence[ScheduleRecord]) -> list[ScheduleRecord]:
        """Register schedules a process has in its code; return them as now stored.

        A schedule new to the store is stored as given. One already stored keeps where
        it stands (``last_tick``, ``last_job_id``, ``paused``) and takes the given
        ``spec``, ``next_tick`` and ``seen_at``.
        """
        ...

    async def fire_schedule(
        self,
        queue: str,
        key: str,
        expected_tick: int,
        tick: int,
        next_tick: int | None,
        records: Sequence[JobRecord],
    ) -> bool:
        """Fire a schedule's tick(s): in one atomic step, or not at all.

        Only if the schedule is stored, not paused, and its ``last_tick`` is still
        ``expected_tick``: store ``records`` (the jobs of the ticks; none when they are
        passed over), set ``last_tick`` to ``tick``, ``next_tick``, and ``last_job_id``
        to the last record's id. Returns whether it did. Of several processes firing
        the same tick, exactly one succeeds.
        """
        ...

    async def list_schedules(self, queue: str) -> list[ScheduleRecord]:
        """Return the queue's stored schedules, ordered by key."""
        ...

    async def pause_schedule(self, queue: str, key: str, paused: bool, now_tick: int) -> bool:
        """Pause or resume a schedule; False if there is no such schedule.

        Resuming passes over the ticks missed while paused: ``last_tick`` becomes at
        least ``now_tick``.
        """
        ...

    async def remove_schedules(self, queue: str, keys: Sequence[str]) -> int:
        """Delete schedules (not their jobs); return how many there were."""
        ...


class EventChannel(Protocol):
    """How a store tells this process that jobs changed, here or in another process."""

    changes: ChangeSignal
    """Fired when jobs may have changed (enqueued, settled), in this process or another.

    A missed wake-up costs latency only: waiters always check the store again.
    """
    remote_events: RemoteEvents
    """Job events published by other processes (only when ``cross_process_events``)."""


class Store(JobStore, Coordination, EventChannel, Protocol):
    """The whole store contract, as the facade holds it.

    Code that needs one seam only takes that protocol (the scheduler a
    :class:`Coordination`, say).
    """


class NoWritesHere:
    """For stores that only write from an event loop: :attr:`Store.writes_here` is False."""

    writes_here = False
    """No blocking writes: the store's connections or state belong to event loops."""

    def enqueue_here(self, records: Sequence[JobRecord]) -> bool:
        """Never called (see :attr:`writes_here`)."""
        raise NotImplementedError


def refuse_connection(connection: object, url: str) -> None:
    """Raise if ``enqueue(..., connection=...)`` is asked of a store that cannot do it."""
    if connection is not None:
        raise ConfigurationError(
            f"enqueue(connection=...) needs a store with transactional enqueue"
            f" (PostgreSQL); {url} has none"
        )
