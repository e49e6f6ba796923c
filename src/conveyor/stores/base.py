"""The store contract: what every store (memory, SQLite, Redis, PostgreSQL) provides.

The worker and the queue facade speak only to this protocol. Each store makes its own
operations atomic, and every outcome call names the worker and the attempt, so a
worker that lost its lease can never overwrite the new owner's result.

Times here are epoch seconds (``float``) read from the store's :class:`Clock`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ..clock import Clock
from ..job import JobStatus, QueueStats


@dataclass(slots=True)
class JobRecord:
    """A job in its stored form: payload and result are serialised bytes."""

    id: str
    queue: str
    name: str
    payload: bytes
    status: JobStatus
    priority: int
    max_retries: int
    retry_delay: float
    timeout: float | None
    backoff: str | None
    """A built-in backoff policy as JSON, or ``None``."""
    created_at: float
    run_at: float
    """When the job becomes (or became) ready to run."""
    scheduled_at: float | None = None
    """The start time the user asked for, if any."""
    attempts: int = 0
    started_at: float | None = None
    completed_at: float | None = None
    worker_id: str | None = None
    lease_expires_at: float | None = None
    result: bytes | None = None
    error: str | None = None
    traceback: str | None = None
    progress: float | None = None
    progress_message: str | None = None
    cancel_requested: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one attempt ended, as the worker decided it; the store applies it atomically.

    ``status`` is COMPLETED, FAILED (no more retries), SCHEDULED (retry after
    ``retry_delay`` seconds), CANCELLED, or PENDING (released unfinished on a graceful
    stop: the attempt is not counted).
    """

    job_id: str
    worker_id: str
    attempt: int
    status: JobStatus
    result: bytes | None = None
    error: str | None = None
    traceback: str | None = None
    retry_delay: float = 0.0


@dataclass(frozen=True, slots=True)
class Renewal:
    """The answer to a heartbeat: which jobs the worker lost, which were cancelled."""

    lost: frozenset[str] = frozenset()
    cancel_requested: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a store can do beyond the common contract."""

    cross_process: bool
    """Several processes can share the store."""
    cross_process_events: bool
    """Lifecycle events published by one process reach the others."""
    transactional_enqueue: bool = False
    """``enqueue(..., connection=conn)`` inside the application's transaction."""


class Store(Protocol):
    """The job store contract. Every method is atomic on the store."""

    url: str
    """The store's URL with any password masked."""
    clock: Clock
    capabilities: Capabilities
    changes: ChangeSignal
    """Fired when jobs may have changed (enqueued, settled), in this process or another.

    A missed wake-up costs latency only: waiters always check the store again.
    """

    async def open(self) -> None:
        """Connect (or create the file) and migrate the schema; idempotent."""
        ...

    async def close(self) -> None:
        """Release connections and threads; the store can be opened again."""
        ...

    async def enqueue(self, records: Sequence[JobRecord]) -> None:
        """Store new jobs, all or none."""
        ...

    async def claim(
        self, queues: Sequence[str], limit: int, worker_id: str, lease: float
    ) -> list[JobRecord]:
        """Take up to ``limit`` ready jobs, highest priority first, FIFO within one.

        Claimed jobs are PROCESSING, held by ``worker_id`` until ``now + lease``, and
        their ``attempts`` is counted up.
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
        loop = asyncio.get_running_loop()
        waiter = _Waiter(loop, loop.create_future())
        with self._lock:
            if since is not None and since != self.generation:
                return
            self._waiters.append(waiter)
        if self.on_first_waiter is not None:
            self.on_first_waiter.set()
        try:
            await asyncio.wait_for(asyncio.shield(waiter.future), timeout)
        except TimeoutError:
            pass
        finally:
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
