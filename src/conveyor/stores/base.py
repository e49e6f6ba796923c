"""The store contract: what every store (memory, SQLite, Redis, PostgreSQL) provides.

The worker and the queue facade speak only to this protocol. Each store makes its own
operations atomic, and every outcome call names the worker and the attempt, so a
worker that lost its lease can never overwrite the new owner's result.

Times here are epoch seconds (``float``) read from the store's :class:`Clock`.
"""

from __future__ import annotations

import asyncio
import json
import json.encoder
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from ..clock import Clock
from ..errors import ConfigurationError
from ..job import JobStatus, QueueStats

log = logging.getLogger("conveyor.stores")

T = TypeVar("T")


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


class NoWritesHere:
    """For stores that only write from an event loop: :attr:`Store.writes_here` is False."""

    writes_here = False
    """No blocking writes: the store's connections or state belong to event loops."""

    def enqueue_here(self, records: Sequence[JobRecord]) -> bool:
        """Never called (see :attr:`writes_here`)."""
        raise NotImplementedError


class ClaimsAfterWaking:
    """For stores whose idle workers wait for the change signal, then claim."""

    changes: ChangeSignal

    async def wait_for_work(
        self,
        queues: Sequence[str],
        limit: int,
        worker_id: str,
        lease: float,
        timeout: float,
        since: int,
    ) -> list[JobRecord]:
        """Wait for a change after generation ``since`` (or ``timeout``); claim nothing."""
        await self.changes.wait(timeout, since=since)
        return []


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
    remote_events: RemoteEvents
    """Job events published by other processes (only when ``cross_process_events``)."""

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
        """True while :meth:`enqueue_here` works (for SQLite: once the store is open)."""
        ...

    def enqueue_here(self, records: Sequence[JobRecord]) -> bool:
        """Store new jobs as :meth:`enqueue` does, on the calling thread, blocking.

        For threads with no event loop (the ``queue.sync`` methods), and only while
        :attr:`writes_here`. False, having done nothing, if the store is busy: then
        :meth:`enqueue` them (concurrent enqueues share a commit that way).
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

    async def acquire_slot(self, bucket: str, limit: int, holder: str, ttl: float) -> bool:
        """Take (or keep) one of ``limit`` slots of ``bucket`` for ``holder``, for ``ttl`` s.

        Atomic over every process: at most ``limit`` holders whose time has not run out.
        A holder that has a slot already gets its time renewed and True.
        """
        ...

    async def release_slot(self, bucket: str, holder: str) -> None:
        """Give back ``holder``'s slot of ``bucket`` (nothing if it has none)."""
        ...

    async def age_jobs(self, queue: str, before: float, limit: int) -> int:
        """Raise pending jobs that have waited since ``before`` one priority level.

        Up to ``limit`` jobs of ``queue`` below CRITICAL whose ``run_at`` is older than
        ``before`` go one level up, their ``run_at`` now (their wait at the new level
        starts). Returns how many. The opt-in fairness of ``create_queue(age_after=)``.
        """
        ...

    async def take_start(self, bucket: str, interval: float) -> float:
        """Take the next start of ``bucket``, which allows one every ``interval`` seconds.

        Returns 0.0 if taken, else the seconds until one is due. The next start is due
        ``interval`` s after this one was (not after now) if this one came less than an
        interval late, so that starts taken a little late keep the rate; after a longer
        pause, ``interval`` s from now. Atomic over every process, on the store's clock.
        """
        ...

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
        :attr:`changes` fired after generation ``since`` (at once if it already has) or
        the time is up. A store that can claim on the server the moment work arrives
        returns the jobs so claimed (as :meth:`claim` with the same arguments would);
        the others return ``[]`` and the worker claims next (:class:`ClaimsAfterWaking`).
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

    # -- bulk steering -------------------------------------------------------------------

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

    # -- workers -------------------------------------------------------------------------

    async def beat_worker(self, worker_id: str, info: str, ttl: float) -> None:
        """Say that worker ``worker_id`` is alive for ``ttl`` seconds; ``info`` is its JSON."""
        ...

    async def list_workers(self) -> list[str]:
        """Return the JSON info of the workers alive (whose last beat has not expired)."""
        ...

    async def forget_worker(self, worker_id: str) -> None:
        """Forget a worker that stopped."""
        ...

    # -- recurring schedules -----------------------------------------------------------

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
        with self.watching(timeout, since) as changed:
            await changed

    @contextmanager
    def watching(self, timeout: float, since: int | None = None) -> Iterator[asyncio.Future[None]]:
        """Give a future that the next :meth:`fire`, or ``timeout`` seconds, resolves.

        With ``since``, it is resolved already if the signal fired after that generation.
        A future, not a task: a fire reaches its awaiter through one callback (wait_for
        and shield each added a turn of the loop), and leaving the block needs no cancel.
        """
        loop = asyncio.get_running_loop()
        waiter = _Waiter(loop, loop.create_future())
        with self._lock:
            if since is not None and since != self.generation:
                waiter.future.set_result(None)
            else:
                self._waiters.append(waiter)
        if not waiter.future.done() and self.on_first_waiter is not None:
            self.on_first_waiter.set()
        timer = loop.call_later(timeout, _resolve, waiter.future)
        try:
            yield waiter.future
        finally:
            timer.cancel()
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


@dataclass(frozen=True, slots=True)
class StoreEvent:
    """One job lifecycle event as a shared store publishes it to every process.

    ``event`` is a public event name (``job:completed``...) or an internal one that
    only wakes workers (``job:released``, ``job:postponed``, ``job:recovered``,
    ``job:requeued``).
    """

    event: str
    job_id: str
    queue: str


quote_json: Callable[[str], str] = json.encoder.encode_basestring_ascii
"""A string as JSON, exactly as ``json.dumps`` spells it (non-ASCII escaped)."""


def encode_events(origin: str, events: Iterable[StoreEvent]) -> str:
    """Encode a batch of events for a pub/sub message: compact JSON.

    ``{"o": origin, "e": [[event, job_id, queue], ...]}`` -- Lua scripts build the same
    shape with ``cjson.encode``.
    """
    # What json.dumps(..., separators=(",", ":")) makes, without its generic walk: this
    # runs for every enqueue and state change on PostgreSQL.
    return _message(origin, ",".join([_event_json(e.event, e.job_id, e.queue) for e in events]))


def encode_event(origin: str, event: str, job_id: str, queue: str) -> str:
    """:func:`encode_events` of one event, without making a :class:`StoreEvent`."""
    return _message(origin, _event_json(event, job_id, queue))


def _message(origin: str, batch: str) -> str:
    return f'{{"o":{quote_json(origin)},"e":[{batch}]}}'


def _event_json(event: str, job_id: str, queue: str) -> str:
    q = quote_json
    return f"[{q(event)},{q(job_id)},{q(queue)}]"


def decode_events(message: str | bytes) -> tuple[str, list[StoreEvent]]:
    """Decode a message made by :func:`encode_events`; raise ``ValueError`` if malformed."""
    try:
        data = json.loads(message)
        origin = data["o"]
        batch = [StoreEvent(str(e), str(j), str(q)) for e, j, q in data["e"]]
    except (TypeError, KeyError, ValueError) as exc:
        raise ValueError(f"not a conveyor event message: {message!r:.200}") from exc
    if not isinstance(origin, str):
        raise ValueError(f"not a conveyor event message: {message!r:.200}")
    return origin, batch


RemoteListener = Callable[[StoreEvent], None]

ANONYMOUS_ORIGIN = ""
"""The origin of events no store object published itself (a transactional enqueue,
committed by the application): every process, this one included, receives them."""


class RemoteEvents:
    """Hands job events published by *other* processes to this process's listeners.

    A store with ``cross_process_events`` tags what it publishes with :attr:`origin`
    and calls :meth:`deliver` for every message it receives, from whatever thread its
    subscription runs on; messages of its own origin are dropped here (this process
    already emitted them). Listeners are called on that thread and must hand work to
    their own event loop themselves. A listener that raises is logged.
    """

    def __init__(self) -> None:
        self.origin = uuid.uuid4().hex[:16]
        self._lock = threading.Lock()
        self._listeners: list[RemoteListener] = []

    @property
    def has_listeners(self) -> bool:
        """True while anybody listens."""
        return bool(self._listeners)

    def subscribe(self, listener: RemoteListener) -> None:
        """Call ``listener(event)`` for every event another process publishes."""
        with self._lock:
            self._listeners = [*self._listeners, listener]

    def unsubscribe(self, listener: RemoteListener) -> None:
        """Stop calling ``listener``."""
        with self._lock:
            self._listeners = [known for known in self._listeners if known != listener]

    def deliver(self, origin: str, events: Iterable[StoreEvent]) -> None:
        """Pass events from ``origin`` to the listeners, unless they are this process's."""
        if origin == self.origin:
            return
        listeners = self._listeners
        if not listeners:
            return
        for event in events:
            for listener in listeners:
                try:
                    listener(event)
                except Exception:
                    log.exception("remote event listener %r failed on %s", listener, event)


class PerLoop(Generic[T]):
    """One resource (a client, a pool) per event loop, made on first use in that loop.

    asyncio drivers bind connections to the loop that made them, while a queue is used
    from the application's loop and from the sync twins' portal loop at once.
    """

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._lock = threading.Lock()
        self._by_loop: dict[asyncio.AbstractEventLoop, T] = {}

    def get(self) -> T:
        """Return the running loop's resource, making it if needed."""
        loop = asyncio.get_running_loop()
        resource = self._by_loop.get(loop)  # a dict read is atomic: no lock once made
        if resource is not None:
            return resource
        with self._lock:
            resource = self._by_loop.get(loop)
            if resource is None:
                resource = self._by_loop[loop] = self._make()
            return resource

    def take_all(self) -> list[tuple[asyncio.AbstractEventLoop, T]]:
        """Remove and return every resource with its loop (to close them)."""
        with self._lock:
            taken = list(self._by_loop.items())
            self._by_loop.clear()
        return taken


def refuse_connection(connection: object, url: str) -> None:
    """Raise if ``enqueue(..., connection=...)`` is asked of a store that cannot do it."""
    if connection is not None:
        raise ConfigurationError(
            f"enqueue(connection=...) needs a store with transactional enqueue"
            f" (PostgreSQL); {url} has none"
        )
