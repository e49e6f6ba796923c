"""What a job is: its status, priority, configuration and the public ``Job`` record."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any

from .errors import InvalidJobError, JobCancelledError
from .retry import BackoffPolicy


class JobStatus(StrEnum):
    """Where a job is in its life."""

    PENDING = "pending"
    """Ready to run."""
    SCHEDULED = "scheduled"
    """Waiting for its time (a delayed job, or a retry waiting out its delay)."""
    PROCESSING = "processing"
    """Held by a worker that is running it."""
    COMPLETED = "completed"
    """Finished successfully; ``result`` holds what the handler returned."""
    FAILED = "failed"
    """Every attempt failed; ``error`` holds the last failure."""
    CANCELLED = "cancelled"
    """Cancelled before it finished."""

    def __str__(self) -> str:
        return f"JobStatus.{self.name}"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    @property
    def is_finished(self) -> bool:
        """True for the end states: completed, failed and cancelled."""
        return self in _FINISHED


_FINISHED = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})


class JobPriority(IntEnum):
    """Higher runs first; first-in-first-out within one priority."""

    LOW = 0
    """Runs after every other priority."""
    NORMAL = 1
    """The default."""
    HIGH = 2
    """Runs before NORMAL and LOW."""
    CRITICAL = 3
    """Runs first."""


def check_priority(value: object) -> JobPriority:
    """Return ``value`` as a :class:`JobPriority`, or raise :class:`InvalidJobError`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidJobError(f"priority must be a JobPriority (0-3), got {value!r}")
    try:
        return JobPriority(value)
    except ValueError:
        raise InvalidJobError(
            f"priority must be one of LOW (0), NORMAL (1), HIGH (2), CRITICAL (3), got {value!r}"
        ) from None


@dataclass(frozen=True, slots=True)
class JobConfig:
    """How a job runs: retries, their delay, its time limit, priority and start time."""

    max_retries: int = 3
    """Extra attempts after the first failure (3 means at most 4 attempts)."""
    retry_delay: float = 1.0
    """Seconds before a retry, when no ``backoff`` policy is set."""
    timeout: float | None = 30.0
    """Seconds one attempt may run; ``None`` for no limit."""
    priority: JobPriority = JobPriority.NORMAL
    """Higher runs first."""
    scheduled_at: datetime | None = None
    """The time before which the job does not run (``None``: as soon as possible)."""
    backoff: BackoffPolicy | None = None
    """A built-in backoff policy, stored with the job; overrides ``retry_delay``."""


@dataclass(frozen=True, slots=True)
class QueueStats:
    """How many jobs of a queue are in each status."""

    pending: int = 0
    """Jobs ready to run."""
    scheduled: int = 0
    """Jobs waiting for their time (delayed, or waiting for a retry)."""
    processing: int = 0
    """Jobs a worker runs now."""
    completed: int = 0
    """Jobs that completed (and are still kept)."""
    failed: int = 0
    """Jobs that failed for good (and are still kept)."""
    cancelled: int = 0
    """Jobs that were cancelled (and are still kept)."""

    @property
    def total(self) -> int:
        """All jobs the store holds for the queue."""
        return (
            self.pending
            + self.scheduled
            + self.processing
            + self.completed
            + self.failed
            + self.cancelled
        )


ProgressReporter = Callable[["Job", float, str | None], Awaitable[None]]


@dataclass(slots=True, eq=False)
class Job:
    """A job as the store last saw it, with its decoded payload and result.

    Handlers receive the ``Job`` they run; ``queue.get_job`` returns a fresh copy.
    """

    id: str
    """Unique, and sortable by creation time."""
    name: str
    """The job name, which picks its handler."""
    queue: str
    """The name of the queue the job is in."""
    payload: Any
    """What the job was enqueued with, as the serializer decoded it."""
    status: JobStatus
    """Where the job is in its life."""
    config: JobConfig
    """How it runs: retries, their delay, time limit, priority, start time."""
    attempts: int = 0
    """Attempts started so far, the current one included."""
    created_at: datetime | None = None
    """When it was enqueued (aware, UTC)."""
    started_at: datetime | None = None
    """When its latest attempt started (aware, UTC)."""
    completed_at: datetime | None = None
    """When it finished: completed, failed for good or cancelled (aware, UTC)."""
    error: str | None = None
    """The last failure's message."""
    traceback: str | None = None
    """The last failure's traceback."""
    result: Any = None
    """What the handler returned, once completed."""
    progress_percent: float | None = None
    """The last progress its handler reported (0 to 100)."""
    progress_message: str | None = None
    """The message of that progress report."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """The job's message headers (with tracing on, the trace context of its enqueue)."""
    _reporter: ProgressReporter | None = field(default=None, repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    _cancel_asked: bool = field(default=False, repr=False)
    """Set by the worker's loop, read by the handler (a thread's too): a plain flag will do."""
    _sync_reporter: Callable[[float, str | None], None] | None = field(default=None, repr=False)

    @property
    def cancelled(self) -> bool:
        """True once a cancel was asked for this attempt; plain handlers can poll it."""
        return self._cancel_asked

    def raise_if_cancelled(self) -> None:
        """Raise :class:`JobCancelledError` if the job was cancelled while running."""
        if self._cancel_asked:
            raise JobCancelledError(f"job {self.id} was cancelled")

    async def progress(self, percent: float, message: str | None = None) -> None:
        """Record progress (0-100) on the job and emit ``job:progress``."""
        percent = _check_percent(percent)
        if self._reporter is None:
            raise InvalidJobError("progress can only be reported by the handler running the job")
        self.progress_percent, self.progress_message = percent, message
        await self._reporter(self, percent, message)

    @property
    def sync(self) -> JobSync:
        """Blocking twins of the job's coroutines, for plain (thread) handlers."""
        return JobSync(self)

    def to_dict(self) -> dict[str, Any]:
        """Return the job as JSON-ready data (times ISO 8601, enums by name or value).

        Payload and result are as the serializer decoded them (JSON types by default).
        """
        config = self.config
        return {
            "id": self.id, "name": self.name, "queue": self.queue, "status": self.status.value,
            "payload": self.payload, "result": self.result, "error": self.error,
            "traceback": self.traceback, "attempts": self.attempts,
            "max_retries": config.max_retries, "retry_delay": config.retry_delay,
            "timeout": config.timeout, "priority": config.priority.name,
            "scheduled_at": _iso(config.scheduled_at), "created_at": _iso(self.created_at),
            "started_at": _iso(self.started_at), "completed_at": _iso(self.completed_at),
            "progress_percent": self.progress_percent, "progress_message": self.progress_message,
        }  # fmt: skip


class JobSync:
    """Blocking twin of :class:`Job`'s coroutines, usable from a handler's thread."""

    def __init__(self, job: Job) -> None:
        self._job = job

    def progress(self, percent: float, message: str | None = None) -> None:
        """Record progress from a plain handler; blocks until it is stored."""
        if self._job._sync_reporter is not None:
            percent = _check_percent(percent)
            self._job.progress_percent, self._job.progress_message = percent, message
            self._job._sync_reporter(percent, message)
            return
        loop = self._job._loop
        if loop is None:
            raise InvalidJobError("progress can only be reported by the handler running the job")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            raise InvalidJobError("use 'await job.progress(...)' inside an async handler")
        asyncio.run_coroutine_threadsafe(self._job.progress(percent, message), loop).result()


def begin_attempt(job: Job, reporter: ProgressReporter, loop: asyncio.AbstractEventLoop) -> None:
    """Let ``job``'s handler report progress through ``reporter`` (the runtime, at its start).

    A plain handler's thread reaches ``reporter`` on ``loop``.
    """
    job._reporter, job._loop = reporter, loop


def end_attempt(job: Job) -> None:
    """Take back what :func:`begin_attempt` gave (the runtime, once the handler ended)."""
    job._reporter = None


def ask_cancel(job: Job) -> None:
    """Make :attr:`Job.cancelled` true for the running attempt (the runtime, on a cancel)."""
    job._cancel_asked = True


def report_progress_with(job: Job, send: Callable[[float, str | None], None]) -> None:
    """Make ``job.sync.progress`` call ``send`` (a handler's process of its own)."""
    job._sync_reporter = send


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _check_percent(percent: object) -> float:
    if isinstance(percent, bool) or not isinstance(percent, int | float):
        raise InvalidJobError(f"progress must be a number from 0 to 100, got {percent!r}")
    value = float(percent)
    if math.isnan(value) or not 0.0 <= value <= 100.0:
        raise InvalidJobError(f"progress must be a number from 0 to 100, got {percent!r}")
    return value
