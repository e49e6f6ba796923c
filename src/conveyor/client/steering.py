"""Bulk steering: count, delete, retry, cancel or rerun the jobs a match takes, in batches.

Each operation changes at most :data:`BULK_BATCH` jobs per store call (and
transaction), so a large purge never holds the store for long, and logs one line with
the count. :class:`BulkSteering` checks the arguments of the queue's ``count_jobs``,
``delete_jobs``, ``retry_jobs``, ``cancel_jobs`` and ``rerun_jobs`` and does them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any, Protocol

from ..definitions.options import check_name, check_options
from ..errors import InvalidJobError
from ..job import Job, JobStatus
from ..logs import log_job
from ..retry import check_seconds
from ..stores import JobStore
from ..stores.records import JobMatch, JobRecord
from .records import JobSpec

log = logging.getLogger("conveyor.queue")

BULK_BATCH = 1000
"""Jobs a bulk operation changes per store call (and transaction)."""
KEEP: Any = object()
"""``rerun_jobs(payload=KEEP)``: each job keeps its payload."""
OnBatch = Callable[[int], object] | None
_RETRIABLE = (JobStatus.FAILED, JobStatus.CANCELLED)
_WAITING = (JobStatus.PENDING, JobStatus.SCHEDULED)


class Owner(Protocol):
    """What bulk steering reads of its queue."""

    @property
    def name(self) -> str:
        """The queue's name."""
        ...

    @property
    def store(self) -> JobStore:
        """The queue's store (read on each use: a tester may swap it)."""
        ...

    async def enqueue_many(self, jobs: list[JobSpec]) -> list[str]:
        """Store new jobs in one call (reruns)."""
        ...


def check_status(status: JobStatus | str) -> JobStatus:
    """Return ``status`` as a :class:`JobStatus`; raise naming the known ones if unknown."""
    try:
        return JobStatus(status)
    except ValueError:
        known = ", ".join(s.value for s in JobStatus)
        raise InvalidJobError(f"unknown job status {status!r}; one of: {known}") from None


class BulkSteering:
    """The bulk operations of one queue (see the module docstring).

    ``to_job`` reads a stored job as the application sees it (a rerun copies it).
    """

    def __init__(self, owner: Owner, to_job: Callable[[JobRecord], Job]) -> None:
        self._owner = owner
        self._to_job = to_job

    def match(
        self, status: JobStatus | str, name: str | None, older_than: float | timedelta | None
    ) -> JobMatch:
        """Select the queue's jobs in ``status``, of ``name``, ended or made before a time."""
        if name is not None:
            check_name(name)
        before = None
        if older_than is not None:
            before = self._owner.store.clock.now() - check_seconds(older_than, "older_than")
        return JobMatch(self._owner.name, check_status(status), name=name, before=before)

    async def count(self, match: JobMatch) -> int:
        """Count the jobs ``match`` takes."""
        return await self._owner.store.count_jobs(match)

    async def delete(self, match: JobMatch, on_batch: OnBatch) -> int:
        """Delete the jobs ``match`` takes (never running ones)."""
        if match.status is JobStatus.PROCESSING:
            raise InvalidJobError("running jobs cannot be deleted; cancel them first")
        return await self._steer(self._owner.store.delete_jobs, match, on_batch, "deleted")

    async def retry(self, match: JobMatch, on_batch: OnBatch) -> int:
        """Send the failed or cancelled jobs ``match`` takes back to pending."""
        if match.status not in _RETRIABLE:
            raise InvalidJobError(
                f"only failed or cancelled jobs can be retried, not {match.status.value}"
            )
        store = self._owner.store
        return await self._steer(store.retry_jobs, match, on_batch, "sent back to pending")

    async def cancel(self, match: JobMatch, on_batch: OnBatch) -> int:
        """Cancel the pending or scheduled jobs ``match`` takes."""
        if match.status not in _WAITING:
            raise InvalidJobError(
                f"only pending or scheduled jobs can be cancelled, not {match.status.value}"
            )
        return await self._steer(self._owner.store.cancel_jobs, match, on_batch, "cancelled")

    async def rerun(
        self, match: JobMatch, payload: Any, options: Mapping[str, Any], on_batch: OnBatch
    ) -> list[str]:
        """Enqueue the failed or cancelled jobs ``match`` takes anew, then delete them."""
        if match.status not in _RETRIABLE:
            raise InvalidJobError(
                f"only failed or cancelled jobs can be rerun, not {match.status.value}"
            )
        check_options(
            {k: v for k, v in options.items() if k not in ("delay", "scheduled_at")},
            where="rerun_jobs",
            allow_callable=False,
        )
        owner = self._owner
        new_ids: list[str] = []
        passed_over = 0
        while True:
            page = await owner.store.list_jobs(owner.name, match.status, BULK_BATCH, passed_over)
            chosen = [record for record in page if match.matches(record)]
            passed_over += len(page) - len(chosen)
            if chosen:
                jobs = [self._to_job(record) for record in chosen]
                ids = await owner.enqueue_many([rerun_spec(job, payload, options) for job in jobs])
                for job in jobs:
                    await owner.store.delete_job(job.id)
                new_ids += ids
                if on_batch is not None:
                    on_batch(len(ids))
            if len(page) < BULK_BATCH:
                break
        if new_ids:
            count = len(new_ids)
            log_job(log, "%d %s job(s) of queue %r run again as new jobs", count,
                    match.status.value, owner.name, queue=owner.name, count=count)  # fmt: skip
        return new_ids

    async def _steer(
        self,
        operation: Callable[[JobMatch, int], Awaitable[int]],
        match: JobMatch,
        on_batch: OnBatch,
        done: str,
    ) -> int:
        total = 0
        while True:
            changed = await operation(match, BULK_BATCH)
            total += changed
            if on_batch is not None and changed:
                on_batch(changed)
            if changed < BULK_BATCH:
                break
        if total:
            name = self._owner.name
            log_job(log, "%d %s job(s) of queue %r %s", total, match.status.value, name,
                    done, queue=name, count=total)  # fmt: skip
        return total


def rerun_spec(job: Job, payload: Any, options: Mapping[str, Any]) -> JobSpec:
    """Return the ``enqueue_many`` item that runs ``job`` again, changed as told."""
    config = job.config
    if payload is KEEP:
        new_payload = job.payload
    elif callable(payload):
        new_payload = payload(job.payload)
    else:
        new_payload = payload
    kept: dict[str, Any] = {
        "max_retries": config.max_retries,
        "retry_delay": config.backoff if config.backoff is not None else config.retry_delay,
        "timeout": math.inf if config.timeout is None else config.timeout,
        "priority": config.priority,
    }
    return (job.name, new_payload, {**kept, **options})
