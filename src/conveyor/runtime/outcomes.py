"""A job a worker holds, and the outcomes an attempt of it can end with.

:class:`Running` is what the worker knows of one claimed job while it holds it; the
claim loop, the start gates (``gates.py``) and the attempt (``attempt.py``) share it.
:class:`Outcomes` makes the outcomes that more than one of them decides on: a failure
(retried later or failed for good), an interruption, a postponement, a job not run.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from ..definitions.handlers import Handler
from ..errors import RemoteHandlerError
from ..job import Job, JobStatus
from ..stores.records import JobRecord, Outcome

log = logging.getLogger("conveyor.worker")


@dataclass(slots=True)
class Running:
    """A claimed job this worker holds, from its claim until its outcome is stored."""

    job: Job
    record: JobRecord
    task: asyncio.Task[None] | None = None
    """The task that runs the attempt (set just after the job is held)."""
    cancel_requested: bool = False
    """Set when the job was cancelled: its attempt ends as cancelled."""
    lost: bool = False
    """Set when another worker took the job's lease: its outcome is dropped."""
    began: bool = False
    """Set when the job's task first runs. A task cancelled before that ends without
    running a line of it, so it would never settle: until then nobody cancels it, and
    it looks at what was asked meanwhile as it begins."""
    settling: bool = False
    """Set once the handler is over (or never ran): the outcome is being stored."""
    slot: tuple[str, int] | None = None
    """The concurrency slot (bucket, limit) the job holds while it runs."""
    lane: int = 0
    """The claim lane that claimed it (``Worker``): its slot is one of that lane's."""
    started: float = field(default_factory=time.monotonic)
    """When the job was held (``time.monotonic()``)."""

    @property
    def interruptible(self) -> bool:
        """Say whether cancelling the job's task now stops it and settles it as interrupted."""
        return self.began and not self.settling


class Outcomes:
    """Makes the outcomes of the attempts of one worker (``worker_id``)."""

    def __init__(self, worker_id: str, handlers: Mapping[str, Handler]) -> None:
        self.worker_id = worker_id
        """The worker whose attempts these are: the store applies an outcome only if it
        still holds the attempt."""
        self.handlers = handlers
        """The handlers by job name (a failure's retry delay may be theirs)."""

    def interrupted(self, running: Running) -> Outcome:
        """Return the outcome of an attempt stopped before its end: cancelled, or put back."""
        job, attempt = running.job, running.record.attempts
        if running.cancel_requested:
            return Outcome(job.id, self.worker_id, attempt, JobStatus.CANCELLED,
                           error="cancelled while running")  # fmt: skip
        return Outcome(job.id, self.worker_id, attempt, JobStatus.PENDING)

    def failure(self, job: Job, record: JobRecord, exc: BaseException) -> Outcome:
        """Return the outcome of an attempt that raised ``exc``: a retry, or failed for good."""
        if isinstance(exc, RemoteHandlerError):
            message, trace = str(exc), exc.remote_traceback
        else:
            message = f"{type(exc).__name__}: {exc}"
            trace = "".join(traceback.format_exception(exc))
        if record.attempts > record.max_retries:
            return Outcome(job.id, self.worker_id, record.attempts, JobStatus.FAILED,
                           error=message, traceback=trace)  # fmt: skip
        delay = self._retry_delay(job, record)
        return Outcome(job.id, self.worker_id, record.attempts, JobStatus.SCHEDULED,
                       error=message, traceback=trace, retry_delay=delay)  # fmt: skip

    def postponed(self, running: Running, wait: float) -> Outcome:
        """Put a claimed job back for ``wait`` seconds, its attempt given back."""
        job, record = running.job, running.record
        return Outcome(job.id, self.worker_id, record.attempts, JobStatus.SCHEDULED,
                       retry_delay=wait, postponed=True)  # fmt: skip

    def not_run(self, running: Running, reason: str) -> Outcome:
        """Cancel a claimed job without running it, for ``reason``."""
        job, record = running.job, running.record
        return Outcome(job.id, self.worker_id, record.attempts, JobStatus.CANCELLED,
                       error=f"not run: {reason}")  # fmt: skip

    def _retry_delay(self, job: Job, record: JobRecord) -> float:
        if record.backoff is not None:
            return job.config.backoff.seconds(record.attempts) if job.config.backoff else 0.0
        handler = self.handlers.get(job.name)
        if handler is not None and handler.defaults.backoff_callable is not None:
            try:
                delay = handler.defaults.backoff_callable(record.attempts, job)
            except Exception:
                log.exception("retry_delay callable of %r raised; retrying at once", job.name)
                return 0.0
            seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
            return max(seconds, 0.0)
        return record.retry_delay
