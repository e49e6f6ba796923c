"""The records a store keeps and the values its operations take and give.

Times are epoch seconds (``float``) read from the store's :class:`~conveyor.clock.Clock`,
except a schedule's ticks, which are whole epoch milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..job import JobStatus


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
    headers: str | None = None
    """The job's message headers as a JSON object (with tracing on, the trace context
    of its enqueue), or ``None``; set at enqueue, never changed."""
    unique_key: str | None = None
    """The job's uniqueness key in its queue (``enqueue(key=...)``), or ``None``."""
    unique_until: float | None = None
    """Until when (epoch seconds) the key stays taken even once the job finished."""

    def holds_key(self, now: float) -> bool:
        """Say whether this job still holds its key: waiting, running, or in its period."""
        if self.unique_key is None:
            return False
        if not self.status.is_finished:
            return True
        return self.unique_until is not None and self.unique_until > now


def next_due(due: float, now: float, interval: float) -> float:
    """When a rate-limited bucket's next start is due, after one taken ``now``."""
    return due + interval if now - due < interval else now + interval


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one attempt ended, as the worker decided it; the store applies it atomically.

    ``status`` is COMPLETED, FAILED (no more retries), SCHEDULED (retry after
    ``retry_delay`` seconds), CANCELLED, or PENDING (released unfinished on a graceful
    stop: the attempt is not counted). SCHEDULED with ``postponed``: the job did not
    run (its dependencies are not done): it waits ``retry_delay`` seconds, its attempt
    is given back and its last result and error are kept.
    """

    job_id: str
    worker_id: str
    attempt: int
    status: JobStatus
    result: bytes | None = None
    error: str | None = None
    traceback: str | None = None
    retry_delay: float = 0.0
    postponed: bool = False


@dataclass(frozen=True, slots=True)
class JobMatch:
    """The jobs a bulk operation takes: one queue and status, optionally a name and an age."""

    queue: str
    status: JobStatus
    name: str | None = None
    """Only jobs of this name."""
    skip_names: tuple[str, ...] = ()
    """Not jobs of these names."""
    before: float | None = None
    """Only jobs that finished (completed, failed, cancelled) or, in the other statuses,
    were created before this time (epoch seconds)."""

    def matches(self, record: JobRecord) -> bool:
        """Say whether ``record`` is one of these jobs."""
        if record.queue != self.queue or record.status is not self.status:
            return False
        if (self.name is not None and record.name != self.name) or record.name in self.skip_names:
            return False
        if self.before is None:
            return True
        when = record.completed_at if self.status.is_finished else record.created_at
        return when is not None and when < self.before


@dataclass(slots=True)
class ScheduleRecord:
    """A recurring schedule as a store keeps it: what it is, and which tick it is at.

    Ticks are whole milliseconds since the epoch, so that every store compares them
    exactly (the compare-and-set of :meth:`Store.fire_schedule`).
    """

    queue: str
    key: str
    """The schedule's name, unique within its queue."""
    spec: str
    """What the schedule is (job name, expression, time zone...), as JSON, for listings."""
    last_tick: int
    """The latest tick fired or passed over; for a new schedule, when it was registered."""
    next_tick: int | None
    """The next tick, as the scheduler that last registered or fired it computed it."""
    seen_at: float
    """When a scheduler that has the schedule in its code last registered it."""
    last_job_id: str | None = None
    """The job of the latest tick fired."""
    paused: bool = False


def schedule_move(
    queue: str,
    key: str,
    expected_tick: int,
    tick: int,
    next_tick: int | None,
    records: Sequence[JobRecord],
) -> dict[str, object]:
    """Return the parameters of a SQL store's compare-and-set of a schedule's tick.

    ``expected`` is the ``last_tick`` the firing saw, ``job_id`` the last job of the
    tick (or ``None``), as :meth:`~conveyor.stores.base.Coordination.fire_schedule` says.
    """
    return {
        "queue": queue, "key": key, "expected": expected_tick, "tick": tick,
        "next_tick": next_tick, "job_id": records[-1].id if records else None,
    }  # fmt: skip


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
    claim_lanes: int = 1
    """How many claims a worker keeps in flight at once, each for its share of the
    slots: with two, one batch's jobs run while the next batch's claim is on its way."""
