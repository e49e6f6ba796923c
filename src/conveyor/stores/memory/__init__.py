"""``memory://``: a process-local store for tests and experiments.

Jobs live in dictionaries and heaps guarded by one lock, so the store can be shared by
several event loops of one process (the sync twins run on a loop of their own). Nothing
survives the process.

:class:`MemoryStore` is built in layers: :mod:`._state` has the state and its lock,
:mod:`._coordination` the :class:`~conveyor.stores.base.Coordination` methods, this
module the jobs.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections import defaultdict
from collections.abc import Sequence

from ...job import JobPriority, JobStatus, QueueStats
from ..base import NoWritesHere, refuse_connection
from ..records import Capabilities, JobMatch, JobRecord, Outcome, Renewal
from ..signals import ClaimsAfterWaking
from ._coordination import MemoryCoordination

_WAITING = (JobStatus.PENDING, JobStatus.SCHEDULED)


class MemoryStore(NoWritesHere, ClaimsAfterWaking, MemoryCoordination):
    """A process-local store; see the module docstring."""

    capabilities = Capabilities(cross_process=False, cross_process_events=False)

    async def enqueue(self, records: Sequence[JobRecord], connection: object = None) -> None:
        """Store copies of ``records``."""
        refuse_connection(connection, self.url)
        with self._lock:
            for record in records:
                self._jobs[record.id] = dataclasses.replace(record)
                self._index(record)
        self.changes.fire()

    async def enqueue_unique(self, record: JobRecord, connection: object = None) -> str:
        """Store a copy of ``record`` unless a job of its queue holds its key."""
        refuse_connection(connection, self.url)
        with self._lock:
            holder = self._keys.get((record.queue, record.unique_key))
            held = self._jobs.get(holder) if holder is not None else None
            if held is not None and held.holds_key(self.clock.now()):
                return held.id
            self._jobs[record.id] = dataclasses.replace(record)
            self._keys[record.queue, record.unique_key] = record.id
            self._index(record)
        self.changes.fire()
        return record.id

    async def age_jobs(self, queue: str, before: float, limit: int) -> int:
        """Raise long-waiting pending jobs one priority level."""
        now = self.clock.now()
        raised = 0
        with self._lock:
            for record in list(self._jobs.values()):
                if raised >= limit:
                    break
                if (
                    record.queue == queue
                    and record.status is JobStatus.PENDING
                    and record.priority < JobPriority.CRITICAL
                    and record.run_at < before
                ):
                    record.priority += 1
                    record.run_at = now
                    self._index(record)
                    raised += 1
        return raised

    def _promote(self, queue: str, now: float) -> None:
        delayed = self._delayed[queue]
        while delayed and delayed[0][0] <= now:
            run_at, job_id = heapq.heappop(delayed)
            record = self._jobs.get(job_id)
            if record and record.status is JobStatus.SCHEDULED and record.run_at == run_at:
                record.status = JobStatus.PENDING
                self._index(record)

    def _pop_ready(self, queue: str) -> JobRecord | None:
        ready = self._ready[queue]
        while ready:
            neg_priority, run_at, job_id = heapq.heappop(ready)
            record = self._jobs.get(job_id)
            if (
                record
                and record.status is JobStatus.PENDING
                and record.run_at == run_at
                and record.priority == -neg_priority
            ):
                return record
        return None

    async def claim(
        self, queues: Sequence[str], limit: int, worker_id: str, lease: float
    ) -> list[JobRecord]:
        """Take up to ``limit`` ready jobs across ``queues``."""
        now = self.clock.now()
        claimed: list[JobRecord] = []
        with self._lock:
            for queue in queues:
                self._promote(queue, now)
            while len(claimed) < limit:
                heads = [(self._ready[q][0], q) for q in queues if self._ready[q]]
                if not heads:
                    break
                record = self._pop_ready(min(heads)[1])
                if record is None:
                    continue
                record.status = JobStatus.PROCESSING
                record.attempts += 1
                record.started_at = now
                record.worker_id = worker_id
                record.lease_expires_at = now + lease
                record.cancel_requested = False
                record.progress = record.progress_message = None  # a new attempt's progress
                claimed.append(dataclasses.replace(record))
        return claimed

    def _owned(self, job_id: str, worker_id: str, attempt: int | None = None) -> JobRecord | None:
        record = self._jobs.get(job_id)
        if (
            record is None
            or record.status is not JobStatus.PROCESSING
            or record.worker_id != worker_id
            or (attempt is not None and record.attempts != attempt)
        ):
            return None
        return record

    async def renew(self, job_ids: Sequence[str], worker_id: str, lease: float) -> Renewal:
        """Extend the leases ``worker_id`` still holds."""
        now = self.clock.now()
        lost: set[str] = set()
        cancelled: set[str] = set()
        with self._lock:
            for job_id in job_ids:
                record = self._owned(job_id, worker_id)
                if record is None:
                    lost.add(job_id)
                    continue
                record.lease_expires_at = now + lease
                if record.cancel_requested:
                    cancelled.add(job_id)
        return Renewal(frozenset(lost), frozenset(cancelled))

    async def settle(self, outcomes: Sequence[Outcome]) -> list[bool]:
        """Apply outcomes of attempts the workers still own."""
        now = self.clock.now()
        applied: list[bool] = []
        with self._lock:
            for outcome in outcomes:
                record = self._owned(outcome.job_id, outcome.worker_id, outcome.attempt)
                applied.append(record is not None)
                if record is not None:
                    _apply(record, outcome, now)
                    self._index(record)
        self.changes.fire()
        return applied

    async def recover_expired(self) -> list[str]:
        """Requeue (or fail, when out of attempts) jobs whose lease ran out."""
        now = self.clock.now()
        recovered: list[str] = []
        with self._lock:
            for record in self._jobs.values():
                if (
                    record.status is JobStatus.PROCESSING
                    and record.lease_expires_at is not None
                    and record.lease_expires_at < now
                ):
                    _expire(record, now)
                    self._index(record)
                    recovered.append(record.id)
        if recovered:
            self.changes.fire()
        return recovered

    async def cancel(self, job_id: str) -> JobStatus | None:
        """Cancel a waiting job, or flag a running one for its worker."""
        with self._lock:
            record = self._jobs.get(job_id)
            if record is None or record.status.is_finished:
                return None
            if record.status is JobStatus.PROCESSING:
                record.cancel_requested = True
                return JobStatus.PROCESSING
            record.status = JobStatus.CANCELLED
            record.completed_at = self.clock.now()
        self.changes.fire()
        return JobStatus.CANCELLED

    async def retry(self, job_id: str) -> bool:
        """Send a failed or cancelled job back to pending with fresh attempts."""
        with self._lock:
            record = self._jobs.get(job_id)
            if record is None or record.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
                return False
            _reset_for_retry(record, self.clock.now())
            self._index(record)
        self.changes.fire()
        return True

    async def set_progress(
        self, job_id: str, worker_id: str, percent: float, message: str | None
    ) -> bool:
        """Record progress of a job ``worker_id`` holds."""
        with self._lock:
            record = self._owned(job_id, worker_id)
            if record is None:
                return False
            record.progress, record.progress_message = percent, message
            return True

    async def get(self, job_id: str) -> JobRecord | None:
        """Return a copy of one job."""
        with self._lock:
            record = self._jobs.get(job_id)
            return None if record is None else dataclasses.replace(record)

    async def list_jobs(
        self, queue: str, status: JobStatus, limit: int, offset: int
    ) -> list[JobRecord]:
        """Return copies of a queue's jobs in one status, oldest first."""
        with self._lock:
            matching = sorted(
                (r for r in self._jobs.values() if r.queue == queue and r.status is status),
                key=lambda r: r.id,
            )
            return [dataclasses.replace(r) for r in matching[offset : offset + limit]]

    async def stats(self, queue: str) -> QueueStats:
        """Count a queue's jobs per status."""
        counts: dict[str, int] = defaultdict(int)
        with self._lock:
            for record in self._jobs.values():
                if record.queue == queue:
                    counts[record.status.value] += 1
        return QueueStats(**counts)

    async def clear_completed(self, queue: str) -> int:
        """Delete a queue's completed jobs."""
        with self._lock:
            doomed = [
                job_id
                for job_id, r in self._jobs.items()
                if r.queue == queue and r.status is JobStatus.COMPLETED
            ]
            for job_id in doomed:
                del self._jobs[job_id]
        return len(doomed)

    async def next_due(self, queues: Sequence[str]) -> float | None:
        """Return the earliest time a scheduled job of ``queues`` becomes ready."""
        with self._lock:
            times = [
                r.run_at
                for r in self._jobs.values()
                if r.status is JobStatus.SCHEDULED and r.queue in queues
            ]
        return min(times, default=None)

    # -- bulk steering -------------------------------------------------------------------

    def _matching(self, match: JobMatch, limit: int | None = None) -> list[JobRecord]:
        found = sorted((r for r in self._jobs.values() if match.matches(r)), key=lambda r: r.id)
        return found if limit is None else found[:limit]

    async def count_jobs(self, match: JobMatch) -> int:
        """Count the jobs ``match`` takes."""
        with self._lock:
            return len(self._matching(match))

    async def delete_jobs(self, match: JobMatch, limit: int) -> int:
        """Delete the oldest ``limit`` jobs ``match`` takes (never running ones)."""
        if match.status is JobStatus.PROCESSING:
            return 0
        with self._lock:
            doomed = self._matching(match, limit)
            for record in doomed:
                del self._jobs[record.id]
        return len(doomed)

    async def retry_jobs(self, match: JobMatch, limit: int) -> int:
        """Send the oldest ``limit`` failed or cancelled jobs ``match`` takes back to pending."""
        if match.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
            return 0
        with self._lock:
            chosen = self._matching(match, limit)
            for record in chosen:
                _reset_for_retry(record, self.clock.now())
                self._index(record)
        if chosen:
            self.changes.fire()
        return len(chosen)

    async def cancel_jobs(self, match: JobMatch, limit: int) -> int:
        """Cancel the oldest ``limit`` waiting jobs ``match`` takes."""
        if match.status not in (JobStatus.PENDING, JobStatus.SCHEDULED):
            return 0
        with self._lock:
            chosen = self._matching(match, limit)
            for record in chosen:
                record.status, record.completed_at = JobStatus.CANCELLED, self.clock.now()
        if chosen:
            self.changes.fire()
        return len(chosen)

    async def delete_job(self, job_id: str) -> bool:
        """Delete one job unless it is running."""
        with self._lock:
            record = self._jobs.get(job_id)
            if record is None or record.status is JobStatus.PROCESSING:
                return False
            del self._jobs[job_id]
        return True


def _apply(record: JobRecord, outcome: Outcome, now: float) -> None:
    """Apply an attempt's outcome to a record (the memory store's settle transition)."""
    record.status = outcome.status
    record.worker_id = None
    record.lease_expires_at = None
    record.cancel_requested = False
    if outcome.status is JobStatus.PENDING:
        record.attempts -= 1
        record.run_at = now
        return
    if outcome.postponed:
        record.attempts -= 1
        record.run_at = now + outcome.retry_delay
        return
    if outcome.status is JobStatus.SCHEDULED:
        record.run_at = now + outcome.retry_delay
    else:
        record.completed_at = now
    record.result = outcome.result
    record.error, record.traceback = outcome.error, outcome.traceback


def _expire(record: JobRecord, now: float) -> None:
    """Count a lost lease as a failed attempt: retry at once if tries are left, else fail.

    A job whose cancel was asked for while its worker was lost ends cancelled.
    """
    record.worker_id = None
    record.lease_expires_at = None
    record.error = f"worker lost: lease expired during attempt {record.attempts}"
    record.traceback = None
    if record.cancel_requested:
        record.status = JobStatus.CANCELLED
        record.cancel_requested = False
        record.completed_at = now
    elif record.attempts > record.max_retries:
        record.status = JobStatus.FAILED
        record.completed_at = now
    else:
        record.status = JobStatus.PENDING
        record.run_at = now


def _reset_for_retry(record: JobRecord, now: float) -> None:
    record.status = JobStatus.PENDING
    record.attempts = 0
    record.run_at = now
    record.completed_at = None
    record.cancel_requested = False
