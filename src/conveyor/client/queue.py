"""The ``Queue`` facade: everything API.md promises, on top of a store and a worker."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from .. import events
from ..clock import Clock
from ..definitions.chains import Step
from ..definitions.handlers import HandlerFunc, HandlerRegistry
from ..definitions.hooks import Hooks
from ..definitions.options import RetryDelay, check_unique
from ..definitions.retention import FOR_EVER, Retention
from ..definitions.settings import check_queue_name, check_workers
from ..errors import ConfigurationError
from ..events import Callback, EventEmitter
from ..job import Job, JobPriority, JobStatus
from ..logs import log_job
from ..retry import check_seconds
from ..runtime.scheduler import Scheduler
from ..serializers import JSON, Serializer
from ..stores import Store, store_from_url
from .lifecycle import Lifecycle
from .reading import ReadAndSteer
from .records import JobSpec, RecordFactory, given
from .remote import RemoteEventBridge
from .schedules import Schedules, ScheduleVerbs
from .sync import OnThisThread, Portal, twin
from .watching import Watching
from .writer import NewJobs

if TYPE_CHECKING:
    from ..metrics import Metrics
    from ..tracing import Tracing

log = logging.getLogger("conveyor.queue")

F = TypeVar("F", bound=HandlerFunc)


class Queue(ReadAndSteer, ScheduleVerbs, Watching):
    """A named queue on a store: register handlers, enqueue jobs, run workers.

    Make one with :func:`create_queue`. Every coroutine has a blocking twin on
    :attr:`sync` for code without an event loop.
    """

    def __init__(
        self,
        store: Store,
        *,
        name: str = "default",
        workers: int = 4,
        lease: float = 30.0,
        serializer: Serializer = JSON,
        retention: Retention = FOR_EVER,
        age_after: float | None = None,
    ) -> None:
        check_queue_name(name)
        self._store = store
        self._name = name
        self.workers = workers
        """How many jobs this process runs at once (unless ``start(concurrency=...)`` says)."""
        self.lease = lease
        """Seconds a worker holds a job without renewing it before another may take it."""
        self.serializer = serializer
        """What turns payloads and results into bytes and back."""
        self.retention = retention
        """How long finished jobs are kept (``keep_completed``, ``keep_failed``)."""
        self.age_after = age_after
        """Seconds after which a waiting job goes up one priority level (None: never)."""
        self.handlers = HandlerRegistry()
        self.emitter = EventEmitter()
        self.hooks = Hooks()
        """What watches this queue's enqueues and attempts (metrics, tracing, your own)."""
        self.metrics: Metrics | None = None
        """This process's Prometheus metrics, once :meth:`enable_metrics` was called."""
        self.tracing: Tracing | None = None
        """This queue object's OpenTelemetry spans, once :meth:`enable_tracing` was called."""
        self._records = RecordFactory(self)
        self._new = NewJobs(self, self._to_job, lambda write: self.sync.portal.call(write))
        self._schedules = Schedules(self)
        self._life = Lifecycle(
            self, self._schedules, to_job=self._to_job, continue_chain=self._continue_chain,
            tick_jobs=self._records.ticks, announce=self._new.announce,
        )  # fmt: skip
        self._remote = RemoteEventBridge(self, self._to_job, lambda: self.sync.portal.loop())
        self._sync: SyncQueue | None = None
        self._sync_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Queue {self.name!r} on {self.store.url}>"

    @property
    def url(self) -> str:
        """The store's URL, password masked."""
        return self.store.url

    @property
    def sync(self) -> SyncQueue:
        """Blocking twins of every coroutine, e.g. ``queue.sync.enqueue(...)``."""
        with self._sync_lock:
            if self._sync is None:
                self._sync = SyncQueue(self, OnThisThread(self._records, self._new))
            return self._sync

    @property
    def is_running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._life.worker is not None

    def register(self, name: str, handler: HandlerFunc, **defaults: Any) -> Queue:
        """Register ``handler`` for jobs called ``name``; returns the queue (chainable).

        ``defaults`` are job options for this handler (``max_retries``, ``retry_delay``,
        ``timeout``, ``priority``), overridden per job, plus ``run_in="process"`` to run
        a plain function in a process of its own (a hard timeout), and
        ``keep_completed`` / ``keep_failed`` to keep its finished jobs for another time
        than the queue's.
        """
        self.handlers.add(name, handler, defaults)
        return self

    def handler(self, name: str, **defaults: Any) -> Callable[[F], F]:
        """Register the decorated function, as :meth:`register` does; return it unchanged."""

        def decorate(func: F) -> F:
            self.register(name, func, **defaults)
            return func

        return decorate

    def on(self, event: str, callback: Callback) -> Queue:
        """Call ``callback`` (plain or async) on ``event``, e.g. ``"job:completed"``.

        On Redis and PostgreSQL, job events of every process on the store reach it.
        """
        self.emitter.on(event, callback)
        self._remote.listener_added(event)
        return self

    def off(self, event: str, callback: Callback | None = None) -> Queue:
        """Remove a callback (or all callbacks) of ``event``."""
        self.emitter.off(event, callback)
        return self

    def emit(self, event: str, data: Any = None) -> None:
        """Emit ``event`` to this process's callbacks."""
        self.emitter.emit(event, data)

    async def enqueue(
        self,
        /,
        name: str,
        payload: Any = None,
        *,
        max_retries: int | None = None,
        retry_delay: RetryDelay | None = None,
        timeout: float | timedelta | None = None,
        priority: JobPriority | int | None = None,
        scheduled_at: datetime | float | None = None,
        queue: str | None = None,
        key: str | None = None,
        unique_for: float | timedelta | None = None,
        depends_on: Sequence[str] | None = None,
        connection: Any = None,
        job_id: str | None = None,
        **more: Any,
    ) -> str:
        """Add a job; return its id. Options left out come from the handler's defaults.

        ``max_retries`` (3), ``retry_delay`` (1 s, or a backoff policy), ``timeout`` (30 s;
        ``math.inf`` for none), ``priority`` (NORMAL), ``scheduled_at`` (a timezone-aware
        ``datetime`` or epoch seconds), ``delay`` (seconds from now) and ``queue`` (another
        named queue on the same store). ``connection`` (PostgreSQL): the application's
        own connection, in an open transaction; the job exists if and only if that
        transaction commits.

        ``key`` makes the job unique in its queue: while a job enqueued with the same key
        is pending, scheduled or running (and, with ``unique_for``, until that long after
        it was enqueued, even once finished), this returns that job's id and adds none.

        ``depends_on`` (job ids): the job runs only once all of them completed, and is
        cancelled, without running, if one fails for good, is cancelled or deleted (see
        :mod:`conveyor.definitions.dependencies`).

        ``job_id``: the new job's id, made beforehand with :func:`conveyor.ids.new_job_id`,
        for a caller that must hand the id out before the job is stored (a deferred
        enqueue). It must be new: conveyor checks its form (``InvalidJobError``), not
        that no job has it yet. With a ``key`` another job holds, that job's id is
        returned, as without ``job_id``.
        """
        raw = given(max_retries=max_retries, retry_delay=retry_delay, timeout=timeout,
                     priority=priority, scheduled_at=scheduled_at, queue=queue, **more)  # fmt: skip
        record = self._records.new(name, payload, raw, depends_on, job_id)
        if key is None and unique_for is None:
            await self._new.store([record], connection)
            return record.id
        record.unique_key, record.unique_until = check_unique(key, unique_for, record.created_at)
        return await self._new.store([record], connection, unique=True)

    async def schedule(
        self, /, name: str, payload: Any, delay: float | timedelta, **config: Any
    ) -> str:
        """Add a job that runs ``delay`` (seconds or ``timedelta``) from now."""
        check_seconds(delay, "delay")
        return await self.enqueue(name, payload, delay=delay, **config)

    async def enqueue_many(self, jobs: Iterable[JobSpec], *, connection: Any = None) -> list[str]:
        """Add many jobs in one round trip, all or none; return their ids in order.

        Each item is ``(name, payload)``, ``(name, payload, options)`` or a mapping
        ``{"name": ..., "payload": ..., **options}``. ``connection`` as for
        :meth:`enqueue`.
        """
        records = self._records.many(jobs)
        if records:
            await self._new.store(records, connection)
        return [record.id for record in records]

    async def chain(self, /, first: JobSpec, *then: Step) -> str:
        """Run jobs one after another, each given the previous one's result.

        ``first`` is ``(name, payload)``, ``(name, payload, options)`` or a mapping, as in
        :meth:`enqueue_many`; each later step is a job name or ``(name, options)``
        (options as JSON values). Only the first job is enqueued now; returns its id.
        See :mod:`conveyor.definitions.chains` for what happens on failure and crashes.
        """
        return await self._new.store([self._records.chain(first, then)], None)

    async def group(self, /, jobs: Iterable[JobSpec], then: Step) -> tuple[list[str], str]:
        """Run ``jobs`` (as for :meth:`enqueue_many`), then ``then`` with all their results.

        ``then`` is a job name or ``(name, options)``; its payload is the list of the
        jobs' results, in their order. All are stored in one transaction. Returns the
        jobs' ids and the final job's id. If one of the jobs fails for good (or is
        cancelled or deleted), the final job is cancelled, not run.
        """
        records = self._records.group(jobs, then)
        await self._new.store(records, None)
        return [record.id for record in records[:-1]], records[-1].id

    async def _continue_chain(self, job: Job, result: Any) -> None:
        """Enqueue the step after ``job`` (which completed with ``result``), once only."""
        record = self._records.next_step(job, result)
        if record is not None:
            await self._new.store([record], None, unique=True)

    async def cancel(self, job_id: str) -> bool:
        """Cancel a pending or scheduled job, or ask a running one to stop."""
        status = await self.store.cancel(job_id)
        if status is JobStatus.PROCESSING:
            log_job(log, "job %s: its worker is asked to stop it", job_id, job_id=job_id)
            if (worker := self._life.worker) is not None:
                worker.cancel_local(job_id)
        elif status is not None:
            log_job(log, "job %s cancelled", job_id, job_id=job_id, status=status.value)
        return status is not None

    async def start(
        self,
        *,
        queues: Sequence[str] | None = None,
        concurrency: int | None = None,
        run_schedules: bool = True,
    ) -> None:
        """Start this process's workers on this queue (or on ``queues``).

        With ``run_schedules`` false, this process does not fire recurring schedules.
        """
        if self._life.worker is not None:
            return
        workers = check_workers(self.workers if concurrency is None else concurrency)
        await self._life.start(queues or [self.name], workers, run_schedules)
        self._remote.bind_running_loop()
        log.info("queue %r started: %d worker slot(s) on %s", self.name, workers, self.url)
        self.emitter.emit(events.QUEUE_STARTED, self)

    def make_scheduler(self, clock: Clock | None = None) -> Scheduler | None:
        """Return a scheduler of this queue's schedules, not started (``None``: it has none).

        :meth:`start` runs one; :class:`conveyor.testing.QueueTester` drives one on its
        own ``clock``.
        """
        return self._life.make_scheduler(clock)

    async def prune(self) -> int:
        """Delete the finished jobs past their retention now; return how many.

        A started queue does it every minute by itself.
        """
        return await self._life.pruner().prune()

    async def stop(self, timeout: float | timedelta | None = None) -> None:
        """Stop taking jobs and wait for running ones; at ``timeout``, put them back."""
        limit = None if timeout is None else check_seconds(timeout, "timeout")
        if not await self._life.stop(limit):
            return
        log.info("queue %r stopped", self.name)
        self.emitter.emit(events.QUEUE_STOPPED, self)
        await self.emitter.drain()

    def stop_now(self) -> None:
        """Make a :meth:`stop` in progress put running jobs back at once (a second ^C)."""
        self._life.hurry()

    async def close(self) -> None:
        """Stop the workers (if running) and release the store's connections."""
        await self.stop()
        self._remote.close()
        await self.store.close()

    def point_at(
        self, url: str | None = None, *, name: str | None = None, store: Store | None = None
    ) -> None:
        """Point this queue, before it starts, at another store or queue name.

        ``url`` makes a new store as :func:`create_queue` does (``store``: one made
        already, unopened). Handlers, hooks, callbacks and schedules stay. What the
        CLI's ``--url`` and ``--queue`` do to a TARGET's queue, and what
        :class:`~conveyor.testing.QueueTester` does. Raises ``ConfigurationError``
        while the queue runs.
        """
        if self.is_running:
            raise ConfigurationError(f"{self!r} is running: stop it before point_at()")
        if url is not None:
            store = store_from_url(url, self.store.clock)
        if store is not None:
            self._store = store
        if name is not None:
            check_queue_name(name)
            self._name = name
        self._records.forget()

    async def __aenter__(self) -> Queue:
        self._remote.bind_running_loop()
        await self.store.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class SyncQueue:
    """``queue.sync``: the same methods as :class:`Queue`, blocking, no event loop needed.

    >>> job_id = queue.sync.enqueue("send-email", {"to": "a@example.com"})
    """

    def __init__(self, queue: Queue, here: OnThisThread) -> None:
        self.queue = queue
        """The queue whose coroutines the twins run."""
        self.here = here
        """What enqueues on the calling thread, where the store can."""
        self.portal = Portal()
        """The thread and loop the twins run on."""

    enqueue = twin(Queue.enqueue, here=OnThisThread.enqueue)
    schedule = twin(Queue.schedule, here=OnThisThread.schedule)
    enqueue_many = twin(Queue.enqueue_many, here=OnThisThread.enqueue_many)
    chain = twin(Queue.chain)
    group = twin(Queue.group)
    get_job = twin(Queue.get_job)
    get_jobs_by_status = twin(Queue.get_jobs_by_status)
    get_stats = twin(Queue.get_stats)
    clear_completed = twin(Queue.clear_completed)
    retry_job = twin(Queue.retry_job)
    cancel = twin(Queue.cancel)
    delete_job = twin(Queue.delete_job)
    count_jobs = twin(Queue.count_jobs)
    delete_jobs = twin(Queue.delete_jobs)
    retry_jobs = twin(Queue.retry_jobs)
    cancel_jobs = twin(Queue.cancel_jobs)
    rerun_jobs = twin(Queue.rerun_jobs)
    prune = twin(Queue.prune)
    get_workers = twin(Queue.get_workers)
    wait = twin(Queue.wait)
    get_schedules = twin(Queue.get_schedules)
    pause_schedule = twin(Queue.pause_schedule)
    resume_schedule = twin(Queue.resume_schedule)
    remove_schedule = twin(Queue.remove_schedule)
    start = twin(Queue.start)
    stop = twin(Queue.stop)
    close = twin(Queue.close, closes_portal=True)
