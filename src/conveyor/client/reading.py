"""What a queue reads of its jobs and how it steers them: one job or many at a time.

:class:`ReadAndSteer` is the part of the :class:`~conveyor.Queue` facade that looks at
and changes jobs already stored: reading one job, a page of a status, the counts and
the live workers; waiting for a job's end; retrying, deleting and, in batches
(:mod:`.steering`), counting, deleting, retrying, cancelling and rerunning the jobs a
status, name and age select.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from ..definitions.options import record_to_job
from ..errors import InvalidJobError, JobNotFoundError, WaitTimeoutError
from ..job import Job, JobStatus, QueueStats
from ..logs import log_job
from ..retry import check_seconds
from ..runtime.worker import WorkerInfo
from ..serializers import Serializer
from ..stores import Store
from ..stores.records import JobRecord
from .records import JobSpec
from .steering import KEEP, BulkSteering, check_status

log = logging.getLogger("conveyor.queue")


class ReadAndSteer:
    """Reading and steering stored jobs: the facade's methods that need only the store."""

    serializer: Serializer
    _store: Store
    _name: str

    @property
    def store(self) -> Store:
        """The store this queue's jobs live in (:meth:`Queue.point_at` changes it)."""
        return self._store

    @property
    def name(self) -> str:
        """The queue's name (:meth:`Queue.point_at` changes it)."""
        return self._name

    async def enqueue_many(self, jobs: Iterable[JobSpec], *, connection: Any = None) -> list[str]:
        """Add many jobs in one round trip (the facade's; reruns use it)."""
        raise NotImplementedError

    def _to_job(self, record: JobRecord) -> Job:
        return record_to_job(record, self.serializer)

    @property
    def _steering(self) -> BulkSteering:
        return BulkSteering(self, self._to_job)

    async def get_job(self, job_id: str) -> Job | None:
        """Return the job with ``job_id``, or ``None``."""
        record = await self.store.get(job_id)
        return None if record is None else self._to_job(record)

    async def get_jobs_by_status(
        self, status: JobStatus | str, *, limit: int = 100, offset: int = 0
    ) -> list[Job]:
        """Return this queue's jobs in ``status``, oldest first, a page at a time."""
        status = check_status(status)
        for value, what in ((limit, "limit"), (offset, "offset")):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidJobError(f"{what} must be a whole number, 0 or more, got {value!r}")
        records = await self.store.list_jobs(self.name, status, limit, offset)
        return [self._to_job(record) for record in records]

    async def get_stats(self) -> QueueStats:
        """Count this queue's jobs per status."""
        return await self.store.stats(self.name)

    async def clear_completed(self) -> int:
        """Delete this queue's completed jobs; return how many were removed."""
        count = await self.store.clear_completed(self.name)
        if count:
            log_job(log, "%d completed job(s) of queue %r deleted", count, self.name,
                    queue=self.name, count=count)  # fmt: skip
        return count

    async def retry_job(self, job_id: str) -> bool:
        """Send a failed or cancelled job back to pending; False if it is neither."""
        retried = await self.store.retry(job_id)
        if retried:
            log_job(log, "job %s sent back to pending", job_id, job_id=job_id,
                    status=JobStatus.PENDING.value)  # fmt: skip
        return retried

    async def delete_job(self, job_id: str) -> bool:
        """Delete a job that is not running; False if there is no such job or it runs."""
        deleted = await self.store.delete_job(job_id)
        if deleted:
            log_job(log, "job %s deleted", job_id, job_id=job_id)
        return deleted

    async def count_jobs(
        self,
        status: JobStatus | str,
        *,
        name: str | None = None,
        older_than: float | timedelta | None = None,
    ) -> int:
        """Count this queue's jobs in ``status`` (of ``name``, older than ``older_than``).

        Age is counted from when a job finished (completed, failed, cancelled) or else
        from when it was created. The dry run of the bulk operations below.
        """
        return await self._steering.count(self._steering.match(status, name, older_than))

    async def delete_jobs(
        self,
        status: JobStatus | str,
        *,
        name: str | None = None,
        older_than: float | timedelta | None = None,
        on_batch: Callable[[int], object] | None = None,
    ) -> int:
        """Delete this queue's jobs in ``status`` (not PROCESSING), in batches; return how many.

        ``name`` and ``older_than`` narrow them down as for :meth:`count_jobs`;
        ``on_batch(n)`` is called after each batch (for a progress bar).
        """
        return await self._steering.delete(self._steering.match(status, name, older_than), on_batch)

    async def retry_jobs(
        self,
        status: JobStatus | str = JobStatus.FAILED,
        *,
        name: str | None = None,
        older_than: float | timedelta | None = None,
        on_batch: Callable[[int], object] | None = None,
    ) -> int:
        """Send this queue's FAILED (or CANCELLED) jobs back to pending, in batches."""
        return await self._steering.retry(self._steering.match(status, name, older_than), on_batch)

    async def rerun_jobs(
        self,
        status: JobStatus | str = JobStatus.FAILED,
        /,
        *,
        name: str | None = None,
        older_than: float | timedelta | None = None,
        payload: Any = KEEP,
        on_batch: Callable[[int], object] | None = None,
        **options: Any,
    ) -> list[str]:
        """Run this queue's FAILED (or CANCELLED) jobs again as new jobs, changed as told.

        The dead letters' way back: each matching job (``name``, ``older_than`` as for
        :meth:`count_jobs`) is enqueued anew, in batches, with ``payload`` (a value, or a
        function of the old payload; default the old one) and its old options updated
        with ``options`` (``max_retries``, ``retry_delay``, ``timeout``, ``priority``,
        ``delay``...); then the old job is deleted. Returns the new ids. A crash between
        the two leaves an old job beside its new copy, never a job lost.
        """
        match = self._steering.match(status, name, older_than)
        return await self._steering.rerun(match, payload, options, on_batch)

    async def cancel_jobs(
        self,
        status: JobStatus | str = JobStatus.PENDING,
        *,
        name: str | None = None,
        older_than: float | timedelta | None = None,
        on_batch: Callable[[int], object] | None = None,
    ) -> int:
        """Cancel this queue's PENDING (or SCHEDULED) jobs, in batches; return how many."""
        return await self._steering.cancel(self._steering.match(status, name, older_than), on_batch)

    async def get_workers(self) -> list[WorkerInfo]:
        """List the worker processes alive on this store (any queue), with their jobs.

        A worker beats every 5 s; one silent for 15 s (stopped, or killed) is left out.
        """
        return [WorkerInfo.from_json(info) for info in await self.store.list_workers()]

    async def wait(self, job_id: str, timeout: float | timedelta | None = None) -> Job:
        """Return the job once it is completed, failed or cancelled.

        Raises :class:`WaitTimeoutError` after ``timeout`` seconds, and
        :class:`JobNotFoundError` if there is no such job.
        """
        limit = None if timeout is None else check_seconds(timeout, "timeout")
        deadline = None if limit is None else time.monotonic() + limit
        while True:
            generation = self.store.changes.generation
            record = await self.store.get(job_id)
            if record is None:
                raise JobNotFoundError(f"no job with id {job_id!r}")
            if record.status.is_finished:
                return self._to_job(record)
            remaining = 1.0 if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeoutError(
                    f"job {job_id} still {record.status.value} after {limit:g} s"
                )
            await self.store.changes.wait(min(remaining, 1.0), since=generation)
