"""The ``Queue`` facade: everything API.md promises, on top of a store and a worker."""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from .. import events
from ..clock import Clock
from ..definitions.chains import KEEP_KEY_FOR, Step, chain_headers, next_steps, read_chain, step_key
from ..definitions.dependencies import check_depends_on, dependency_headers
from ..definitions.handlers import HandlerFunc, HandlerRegistry
from ..definitions.hooks import Hooks
from ..definitions.options import (
    Options,
    add_headers,
    build_record,
    check_name,
    check_options,
    check_start_time,
    check_unique,
    new_like,
)
from ..definitions.options import record_to_job as _record_to_job
from ..definitions.retention import FOR_EVER, Retention, check_retention
from ..errors import (
    ConfigurationError,
    InvalidJobError,
    InvalidScheduleError,
    JobNotFoundError,
    ScheduleNotFoundError,
    UnknownJobError,
    WaitTimeoutError,
)
from ..events import Callback, EventEmitter
from ..ids import new_job_ids
from ..job import Job, JobPriority, JobStatus, QueueStats
from ..logs import log_job
from ..retry import RetryDelay, check_seconds
from ..runtime.aging import Ager
from ..runtime.retention import Pruner
from ..runtime.scheduler import Schedule, ScheduleInfo, Scheduler, check_missed
from ..runtime.triggers import make_trigger
from ..runtime.worker import Worker, WorkerInfo
from ..serializers import JSON, Serializer
from ..stores import Store, store_from_url
from ..stores.base import JobMatch, JobRecord
from .remote import RemoteEventBridge

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from ..metrics import Metrics
    from ..tracing import Tracing
    from .sync import SyncQueue

log = logging.getLogger("conveyor.queue")

DEFAULT_URL = "sqlite:///conveyor.db"
F = TypeVar("F", bound=HandlerFunc)
JobSpec = tuple[str, Any] | tuple[str, Any, Mapping[str, Any]] | Mapping[str, Any]
_NO_OPTIONS = Options()
KEEP: Any = object()
"""``rerun_jobs(payload=KEEP)``: each job keeps its payload."""


class Queue:
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
        self.store = store
        _check_queue_name(name)
        self.age_after = age_after
        """Seconds after which a waiting job goes up one priority level (None: never)."""
        self._ager: Ager | None = None
        self.name = name
        self.workers = workers
        self.lease = lease
        self.serializer = serializer
        self.handlers = HandlerRegistry()
        self._plain: dict[str, tuple[bool, JobRecord]] = {}
        """Per job name: whether a handler is registered, and a record of that job built
        without options (its settings, worked out once for every such enqueue)."""
        self.emitter = EventEmitter()
        self._remote = RemoteEventBridge(self, self._to_job, lambda: self.sync.portal.loop())
        self._worker: Worker | None = None
        self._schedules: dict[str, Schedule] = {}
        self._scheduler: Scheduler | None = None
        self.retention = retention
        """How long finished jobs are kept (``keep_completed``, ``keep_failed``)."""
        self._pruner: Pruner | None = None
        self.metrics: Metrics | None = None
        """This process's Prometheus metrics, once :meth:`enable_metrics` was called."""
        self.tracing: Tracing | None = None
        """This queue object's OpenTelemetry spans, once :meth:`enable_tracing` was called."""
        self.hooks = Hooks()
        """What watches this queue's enqueues and attempts (metrics, tracing, your own)."""
        """Run after every enqueue (the inline mode of :mod:`conveyor.testing`)."""
        self._stopping: Worker | None = None
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
                from .sync import SyncQueue

                self._sync = SyncQueue(self)
            return self._sync

    @property
    def is_running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._worker is not None

    # -- handlers ----------------------------------------------------------------------

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

    # -- events ------------------------------------------------------------------------

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

    # -- enqueuing ---------------------------------------------------------------------

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
        """
        raw = _given(max_retries=max_retries, retry_delay=retry_delay, timeout=timeout,
                     priority=priority, scheduled_at=scheduled_at, queue=queue, **more)  # fmt: skip
        record = self._new_record(name, payload, raw, depends_on)
        if key is None and unique_for is None:
            await self._store_new([record], connection)
            return record.id
        record.unique_key, record.unique_until = check_unique(key, unique_for, record.created_at)
        return await self._store_new([record], connection, unique=True)

    def _new_record(
        self, name: str, payload: Any, raw: dict[str, Any], depends_on: Sequence[str] | None
    ) -> JobRecord:
        where = f"enqueue of {name!r}" if raw else ""  # names the call in options' errors
        record = self._build(name, payload, raw, where=where)
        if depends_on is not None:
            add_headers(record, dependency_headers(check_depends_on(depends_on)))
        return record

    def _enqueue_here(
        self,
        /,
        name: str,
        payload: Any = None,
        *,
        key: str | None = None,
        unique_for: float | timedelta | None = None,
        depends_on: Sequence[str] | None = None,
        connection: Any = None,
        **options: Any,
    ) -> str | None:
        """:meth:`enqueue` on the calling thread, blocking, where the store can (else None).

        For ``queue.sync.enqueue``: jobs with a key take the event loop's path.
        """
        if key is not None or unique_for is not None or not self._may_store_here(connection):
            return None
        record = self._new_record(name, payload, _given(**options), depends_on)
        return self._store_new_here([record])

    def _schedule_here(
        self, /, name: str, payload: Any, delay: float | timedelta, **config: Any
    ) -> str | None:
        """:meth:`schedule` on the calling thread, blocking, where the store can (else None)."""
        check_seconds(delay, "delay")
        return self._enqueue_here(name, payload, delay=delay, **config)

    def _enqueue_many_here(
        self, jobs: Iterable[JobSpec], *, connection: Any = None
    ) -> list[str] | None:
        """:meth:`enqueue_many` on the calling thread, blocking, where the store can (else None)."""
        if not self._may_store_here(connection):
            return None
        records = self._build_many(jobs)
        if records:
            self._store_new_here(records)
        return [record.id for record in records]

    def _may_store_here(self, connection: Any) -> bool:
        return connection is None and not self.hooks.wait_after_enqueue and self.store.writes_here

    def _store_new_here(self, records: list[JobRecord]) -> str:
        """Store new jobs on this thread, or through the portal if the store is busy."""
        with self.hooks.sending(records):
            held = self._hold_events(records, None)
            try:
                if not self.store.enqueue_here(records):
                    return self.sync.portal.call(self._write_new(records, None, False))
                self._note_added(records, None)
            finally:
                if held is not None:
                    self.emitter.release(held)
        return records[0].id

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
        records = self._build_many(jobs)
        if records:
            await self._store_new(records, connection)
        return [record.id for record in records]

    def _build_many(self, jobs: Iterable[JobSpec]) -> list[JobRecord]:
        """Build the records of ``enqueue_many``; ``(name, payload)`` items take a fast path.

        Jobs of one name with no options of their own differ only in id and payload:
        the first is built (and checked) in full, the others are copies of it with one
        clock read and one id batch for all.
        """
        specs = list(jobs)
        ids = new_job_ids(len(specs))
        models: dict[str, JobRecord] = {}
        dumps = self.serializer.dumps
        records = []
        for index, spec in enumerate(specs):
            if type(spec) is tuple and len(spec) == 2 and type(spec[0]) is str:
                name, payload = spec
                model = models.get(name)
                if model is None:
                    model = models[name] = self._build(
                        name, None, {}, where=f"enqueue_many item {index}"
                    )
                records.append(JobRecord(
                    ids[index], model.queue, name, dumps(payload), model.status, model.priority,
                    model.max_retries, model.retry_delay, model.timeout, model.backoff,
                    model.created_at, model.run_at,
                ))  # fmt: skip
            else:
                record = self._build_spec(index, spec)
                record.id = ids[index]
                records.append(record)
        return records

    def enable_metrics(self, registry: CollectorRegistry | None = None) -> Metrics:
        """Count this process's jobs for Prometheus (needs ``conveyor[metrics]``).

        Call it before :meth:`start`. ``registry``: a ``prometheus_client``
        ``CollectorRegistry`` (default: a new one); serve it with
        :func:`conveyor.metrics.serve_metrics` or your own exporter.
        """
        from ..metrics import Metrics

        if self.metrics is None:
            self.metrics = Metrics(lambda: self.sync.get_stats(), self.name, registry)
            self.hooks.add(self.metrics)
        return self.metrics

    def enable_tracing(self, tracer_provider: Any = None) -> Tracing:
        """Trace enqueues and job runs with OpenTelemetry (needs ``conveyor[tracing]``).

        Each enqueue gets a PRODUCER span whose context travels in the jobs' headers;
        each attempt run by this queue's workers gets a CONSUMER span, its child. Call it
        in every process that enqueues or runs jobs. ``tracer_provider``: default the
        global one. See :mod:`conveyor.tracing`.
        """
        from ..tracing import Tracing

        if self.tracing is None:
            self.tracing = Tracing(tracer_provider)
            self.hooks.add(self.tracing)
        return self.tracing

    def _store_new(
        self, records: list[JobRecord], connection: Any, *, unique: bool = False
    ) -> Awaitable[str]:
        """Store new jobs; return the first one's id (a unique key's holder's, if taken).

        Without a hook that wraps it, this is :meth:`_write_new` itself (no coroutine in
        between).
        """
        if not self.hooks.wrap_sending:
            return self._write_new(records, connection, unique)
        return self._wrapped_write(records, connection, unique)

    async def _wrapped_write(self, records: list[JobRecord], connection: Any, unique: bool) -> str:
        with self.hooks.sending(records):
            return await self._write_new(records, connection, unique)

    async def _write_new(self, records: list[JobRecord], connection: Any, unique: bool) -> str:
        held = self._hold_events(records, connection)
        try:
            if unique:
                [record] = records
                holder = await self.store.enqueue_unique(record, connection=connection)
                if holder != record.id:
                    log_job(log, "job %s (%s) not added: job %s holds key %r", record.id,
                            record.name, holder, record.unique_key, job_id=holder,
                            job_name=record.name, queue=record.queue)  # fmt: skip
                    return holder
            elif connection is None:
                await self.store.enqueue(records)
            else:
                await self.store.enqueue(records, connection=connection)
            self._note_added(records, connection)
        finally:
            if held is not None:
                self.emitter.release(held)
        if self.hooks.wait_after_enqueue:
            await self.hooks.after_enqueue()
        return records[0].id

    def _hold_events(self, records: Sequence[JobRecord], connection: Any) -> list[str] | None:
        """Hold this process's events about ``records`` until their job:added (if emitted)."""
        if connection is None and self.emitter.has_listeners(events.JOB_ADDED):
            return self.emitter.hold([record.id for record in records])
        return None

    def _note_added(self, records: Sequence[JobRecord], connection: Any) -> None:
        """Announce, log and count jobs just stored."""
        if connection is None:
            self._announce_added(records)
        # With a connection the jobs exist once the caller commits: job:added comes from
        # the store then.
        _log_enqueued(records, transactional=connection is not None)
        self.hooks.stored(records)

    def _build_spec(self, index: int, spec: JobSpec) -> JobRecord:
        if isinstance(spec, Mapping):
            options = dict(spec)
            name = options.pop("name", None)
            payload = options.pop("payload", None)
        elif isinstance(spec, tuple) and len(spec) in (2, 3):
            name, payload = spec[0], spec[1]
            options = dict(spec[2]) if len(spec) == 3 else {}
        else:
            raise InvalidJobError(
                f"enqueue_many item {index} must be (name, payload), (name, payload, options)"
                f" or a mapping with 'name', got {spec!r}"
            )
        if "key" in options or "unique_for" in options:
            raise InvalidJobError(
                f"enqueue_many item {index}: unique keys are for enqueue(), one job at a time"
            )
        return self._build(name, payload, options, where=f"enqueue_many item {index}")

    async def chain(self, /, first: JobSpec, *then: Step) -> str:
        """Run jobs one after another, each given the previous one's result.

        ``first`` is ``(name, payload)``, ``(name, payload, options)`` or a mapping, as in
        :meth:`enqueue_many`; each later step is a job name or ``(name, options)``
        (options as JSON values). Only the first job is enqueued now; returns its id.
        See :mod:`conveyor.definitions.chains` for what happens on failure and crashes.
        """
        rest = next_steps(then)
        for name, _ in rest:
            check_name(name)
            self._check_known(name)
        record = self._build_spec(0, first)
        add_headers(record, chain_headers(record.id, 0, rest))
        return await self._store_new([record], None)

    async def group(self, /, jobs: Iterable[JobSpec], then: Step) -> tuple[list[str], str]:
        """Run ``jobs`` (as for :meth:`enqueue_many`), then ``then`` with all their results.

        ``then`` is a job name or ``(name, options)``; its payload is the list of the
        jobs' results, in their order. All are stored in one transaction. Returns the
        jobs' ids and the final job's id. If one of the jobs fails for good (or is
        cancelled or deleted), the final job is cancelled, not run.
        """
        records = self._build_many(jobs)
        if not records:
            raise InvalidJobError("a group needs at least one job")
        [[name, options]] = next_steps([then])
        final = self._build(name, None, dict(options), where="the final job of a group")
        add_headers(final, dependency_headers([r.id for r in records], gather=True))
        await self._store_new([*records, final], None)
        return [record.id for record in records], final.id

    async def _continue_chain(self, job: Job, result: Any) -> None:
        """Enqueue the step after ``job`` (which completed with ``result``), once only."""
        chain_id, done, rest = read_chain(job.headers)
        if not rest:
            return
        (name, options), remaining, step = rest[0], rest[1:], done + 1
        record = self._build(
            name, result, dict(options), where=f"step {step} of chain {chain_id}", any_name=True
        )
        add_headers(record, chain_headers(chain_id, step, remaining))
        record.unique_key = step_key(chain_id, step)
        record.unique_until = record.created_at + KEEP_KEY_FOR
        await self._store_new([record], None, unique=True)

    def _check_known(self, name: str) -> None:
        if self.handlers.get(name) is None and len(self.handlers):
            raise UnknownJobError(
                f"no handler registered for job name {name!r} (known: {sorted(self.handlers)});"
                " register it, or enqueue from a process that registers no handlers"
            )

    def _build(
        self,
        name: Any,
        payload: Any,
        raw: dict[str, Any],
        *,
        where: str,
        any_name: bool = False,
    ) -> JobRecord:
        check_name(name)
        plain = not raw
        known = self._plain.get(name) if plain else None
        if known is not None and (known[0] or not self.handlers):  # as _check_known decides
            return new_like(known[1], self.serializer.dumps(payload), self.store.clock.now())
        handler = self.handlers.get(name)
        if not any_name:
            self._check_known(name)
        scheduled_at, delay = raw.pop("scheduled_at", None), raw.pop("delay", None)
        queue = raw.pop("queue", None) or self.name
        if not isinstance(queue, str):
            raise InvalidJobError(f"queue must be a string, got {queue!r}")
        options = check_options(raw, where=where, allow_callable=False) if raw else _NO_OPTIONS
        now = self.store.clock.now()
        run_at, scheduled = check_start_time(scheduled_at, delay, now)
        record = build_record(
            name=name,
            queue=queue,
            payload=self.serializer.dumps(payload),
            options=options,
            defaults=handler.defaults if handler else _NO_OPTIONS,
            run_at=run_at,
            scheduled_at=scheduled,
            now=now,
        )
        if plain:
            if len(self._plain) >= 256:  # names of jobs without a handler have no bound
                self._plain.clear()
            self._plain[name] = (handler is not None, record)
        return record

    def _announce_added(self, records: Sequence[JobRecord]) -> None:
        if self.emitter.has_listeners(events.JOB_ADDED):
            for record in records:
                self.emitter.emit(events.JOB_ADDED, self._to_job(record))

    # -- recurring jobs ----------------------------------------------------------------

    def cron(
        self,
        /,
        name: str,
        schedule: str | timedelta,
        payload: Any = None,
        *,
        timezone: str = "UTC",
        key: str | None = None,
        missed: str | int = "latest",
        **config: Any,
    ) -> Queue:
        """Enqueue ``name`` at every tick of ``schedule``; returns the queue (chainable).

        ``schedule`` is a 5-field cron expression (``"0 3 * * *"``), a 6-field one with
        seconds first, an alias (``@hourly``, ``@daily``, ``@weekly``, ``@monthly``,
        ``@yearly``) or a ``timedelta`` interval (at least 1 s). Expressions read the
        wall clock of ``timezone`` (an IANA name). However many processes run the
        queue, each tick enqueues exactly one job, whose ``config.scheduled_at`` is the
        tick's time. ``missed``: after downtime, ``"latest"`` runs the most recent
        missed tick once, ``"skip"`` runs none, a number N runs up to the N most recent.
        ``key`` names the schedule (default: ``name``), to give one job several
        schedules. ``config``: job options, as for :meth:`enqueue`. The handler must be
        registered first; every mistake is raised here, not at the first tick.
        Schedules fire in processes that :meth:`start` the queue.
        """
        check_name(name)
        where = f"schedule {key or name!r}"
        if self.handlers.get(name) is None:
            raise UnknownJobError(
                f"{where}: no handler registered for job name {name!r}; register it before"
                " scheduling it"
            )
        key = name if key is None else key
        if not isinstance(key, str) or not key:
            raise InvalidScheduleError(f"key must be a non-empty string, got {key!r}")
        if key in self._schedules:
            raise InvalidScheduleError(f"a schedule named {key!r} is already registered")
        if self._scheduler is not None:
            raise InvalidScheduleError(f"{where}: register schedules before start()")
        for option in ("scheduled_at", "delay"):
            if option in config:
                raise InvalidScheduleError(f"{where}: {option} is set by each tick, not given")
        trigger = make_trigger(schedule, timezone)
        trigger.next_after(int(self.store.clock.now() * 1000))  # one that never matches
        self.serializer.dumps(payload)
        check_options(dict(config), where=where, allow_callable=False)
        self._schedules[key] = Schedule(
            key=key,
            name=name,
            trigger=trigger,
            timezone=str(timezone),
            payload=payload,
            options=dict(config),
            missed=check_missed(missed),
        )
        return self

    def _tick_jobs(self, schedule: Schedule, ticks: Sequence[int]) -> list[JobRecord]:
        where = f"schedule {schedule.key!r}"
        return [
            self._build(schedule.name, schedule.payload,
                        {**schedule.options, "scheduled_at": tick / 1000}, where=where)
            for tick in ticks
        ]  # fmt: skip

    async def get_schedules(self) -> list[ScheduleInfo]:
        """List this queue's schedules as stored: next and last run, paused, stale."""
        now = self.store.clock.now()
        records = await self.store.list_schedules(self.name)
        return [ScheduleInfo.from_record(record, now) for record in records]

    async def pause_schedule(self, key: str) -> None:
        """Stop a schedule from firing, in every process, until it is resumed."""
        await self._set_paused(key, True)

    async def resume_schedule(self, key: str) -> None:
        """Let a paused schedule fire again, from its next tick (missed ones are skipped)."""
        await self._set_paused(key, False)

    async def _set_paused(self, key: str, paused: bool) -> None:
        now_tick = int(self.store.clock.now() * 1000)
        if not await self.store.pause_schedule(self.name, key, paused, now_tick):
            raise ScheduleNotFoundError(f"queue {self.name!r} has no schedule {key!r}")

    async def remove_schedule(self, key: str) -> None:
        """Delete a schedule from the store; running processes stop firing it.

        A process that starts with the schedule still in its code registers it again:
        delete it from the code as well.
        """
        if not await self.store.remove_schedules(self.name, [key]):
            raise ScheduleNotFoundError(f"queue {self.name!r} has no schedule {key!r}")

    # -- reading and steering ------------------------------------------------------------

    async def get_job(self, job_id: str) -> Job | None:
        """Return the job with ``job_id``, or ``None``."""
        record = await self.store.get(job_id)
        return None if record is None else self._to_job(record)

    async def get_jobs_by_status(
        self, status: JobStatus | str, *, limit: int = 100, offset: int = 0
    ) -> list[Job]:
        """Return this queue's jobs in ``status``, oldest first, a page at a time."""
        status = _check_status(status)
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

    async def cancel(self, job_id: str) -> bool:
        """Cancel a pending or scheduled job, or ask a running one to stop."""
        status = await self.store.cancel(job_id)
        if status is JobStatus.PROCESSING:
            log_job(log, "job %s: its worker is asked to stop it", job_id, job_id=job_id)
            if self._worker is not None:
                self._worker.cancel_local(job_id)
        elif status is not None:
            log_job(log, "job %s cancelled", job_id, job_id=job_id, status=status.value)
        return status is not None

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
        return await self.store.count_jobs(self._match(status, name, older_than))

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
        match = self._match(status, name, older_than)
        if match.status is JobStatus.PROCESSING:
            raise InvalidJobError("running jobs cannot be deleted; cancel them first")
        return await self._steer(self.store.delete_jobs, match, on_batch, "deleted")

    async def retry_jobs(
        self,
        status: JobStatus | str = JobStatus.FAILED,
        *,
        name: str | None = None,
        older_than: float | timedelta | None = None,
        on_batch: Callable[[int], object] | None = None,
    ) -> int:
        """Send this queue's FAILED (or CANCELLED) jobs back to pending, in batches."""
        match = self._match(status, name, older_than)
        if match.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
            raise InvalidJobError(f"only failed or cancelled jobs can be retried, not {status}")
        return await self._steer(self.store.retry_jobs, match, on_batch, "sent back to pending")

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
        match = self._match(status, name, older_than)
        if match.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
            raise InvalidJobError(f"only failed or cancelled jobs can be rerun, not {status}")
        check_options(
            {k: v for k, v in options.items() if k not in ("delay", "scheduled_at")},
            where="rerun_jobs",
            allow_callable=False,
        )
        new_ids: list[str] = []
        passed_over = 0
        while True:
            page = await self.store.list_jobs(self.name, match.status, BULK_BATCH, passed_over)
            chosen = [record for record in page if match.matches(record)]
            passed_over += len(page) - len(chosen)
            if chosen:
                jobs = [self._to_job(record) for record in chosen]
                ids = await self.enqueue_many([_rerun_spec(job, payload, options) for job in jobs])
                for job in jobs:
                    await self.store.delete_job(job.id)
                new_ids += ids
                if on_batch is not None:
                    on_batch(len(ids))
            if len(page) < BULK_BATCH:
                break
        if new_ids:
            log_job(log, "%d %s job(s) of queue %r run again as new jobs", len(new_ids),
                    match.status.value, self.name, queue=self.name, count=len(new_ids))  # fmt: skip
        return new_ids

    async def cancel_jobs(
        self,
        status: JobStatus | str = JobStatus.PENDING,
        *,
        name: str | None = None,
        older_than: float | timedelta | None = None,
        on_batch: Callable[[int], object] | None = None,
    ) -> int:
        """Cancel this queue's PENDING (or SCHEDULED) jobs, in batches; return how many."""
        match = self._match(status, name, older_than)
        if match.status not in (JobStatus.PENDING, JobStatus.SCHEDULED):
            raise InvalidJobError(f"only pending or scheduled jobs can be cancelled, not {status}")
        return await self._steer(self.store.cancel_jobs, match, on_batch, "cancelled")

    async def _steer(
        self,
        operation: Callable[[JobMatch, int], Awaitable[int]],
        match: JobMatch,
        on_batch: Callable[[int], object] | None,
        done: str,
    ) -> int:
        count = await _in_batches(operation, match, on_batch)
        if count:
            log_job(log, "%d %s job(s) of queue %r %s", count, match.status.value, self.name,
                    done, queue=self.name, count=count)  # fmt: skip
        return count

    def _match(
        self, status: JobStatus | str, name: str | None, older_than: float | timedelta | None
    ) -> JobMatch:
        if name is not None:
            check_name(name)
        before = None
        if older_than is not None:
            before = self.store.clock.now() - check_seconds(older_than, "older_than")
        return JobMatch(self.name, _check_status(status), name=name, before=before)

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

    def _to_job(self, record: JobRecord) -> Job:
        return _record_to_job(record, self.serializer)

    # -- running -----------------------------------------------------------------------

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
        if self._worker is not None:
            return
        workers = _check_workers(self.workers if concurrency is None else concurrency)
        await self.store.open()
        worker = Worker(
            store=self.store,
            handlers={name: h for name in self.handlers if (h := self.handlers.get(name))},
            queues=list(queues or [self.name]),
            concurrency=workers,
            lease=self.lease,
            serializer=self.serializer,
            emitter=self.emitter,
            make_job=self._to_job,
            hooks=self.hooks,
            continue_chain=self._continue_chain,
        )
        worker.start()
        self._worker = worker
        if run_schedules and (scheduler := self.make_scheduler()) is not None:
            self._scheduler = scheduler
            scheduler.start()
        self._pruner = Pruner(self.store, self.name, self.retention, self._handler_retention)
        self._pruner.start()
        if self.age_after is not None:
            self._ager = Ager(self.store, self.name, self.age_after)
            self._ager.start()
        self._remote.bind_running_loop()
        log.info("queue %r started: %d worker slot(s) on %s", self.name, workers, self.url)
        self.emitter.emit(events.QUEUE_STARTED, self)

    def make_scheduler(self, clock: Clock | None = None) -> Scheduler | None:
        """Return a scheduler of this queue's recurring schedules on its store, not started.

        ``None`` when the queue has none. :meth:`start` runs one;
        :class:`conveyor.testing.QueueTester` drives one on its own ``clock``.
        """
        if not self._schedules:
            return None
        return Scheduler(
            self.store, self.name, self._schedules, self._tick_jobs, self._announce_added,
            clock=clock,
        )  # fmt: skip

    def _handler_retention(self) -> dict[str, Retention]:
        found = {}
        for name in self.handlers:
            handler = self.handlers.get(name)
            if handler is not None and handler.retention != FOR_EVER:
                found[name] = handler.retention
        return found

    async def prune(self) -> int:
        """Delete the finished jobs past their retention now; return how many.

        A started queue does it every minute by itself.
        """
        pruner = Pruner(self.store, self.name, self.retention, self._handler_retention)
        return await pruner.prune()

    async def stop(self, timeout: float | timedelta | None = None) -> None:
        """Stop taking jobs and wait for running ones; at ``timeout``, put them back."""
        limit = None if timeout is None else check_seconds(timeout, "timeout")
        worker, self._worker = self._worker, None
        if worker is None:
            return
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            await scheduler.stop()
        pruner, self._pruner = self._pruner, None
        if pruner is not None:
            await pruner.stop()
        ager, self._ager = self._ager, None
        if ager is not None:
            await ager.stop()
        self._stopping = worker
        try:
            await worker.stop(limit)
        finally:
            self._stopping = None
        log.info("queue %r stopped", self.name)
        self.emitter.emit(events.QUEUE_STOPPED, self)
        await self.emitter.drain()

    def stop_now(self) -> None:
        """Make a :meth:`stop` in progress put running jobs back at once (a second ^C)."""
        if self._stopping is not None:
            self._stopping.hurry()

    async def close(self) -> None:
        """Stop the workers (if running) and release the store's connections."""
        await self.stop()
        self._remote.close()
        await self.store.close()

    async def __aenter__(self) -> Queue:
        self._remote.bind_running_loop()
        await self.store.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def _log_enqueued(records: Sequence[JobRecord], *, transactional: bool) -> None:
    if not log.isEnabledFor(logging.INFO):
        return
    when = " (once the caller's transaction commits)" if transactional else ""
    if len(records) == 1:
        [r] = records
        log_job(log, "job %s (%s) enqueued%s", r.id, r.name, when, job_id=r.id,
                job_name=r.name, queue=r.queue, status=r.status.value)  # fmt: skip
    else:
        queue = records[0].queue
        log_job(log, "%d jobs enqueued on queue %r%s", len(records), queue, when,
                queue=queue, count=len(records))  # fmt: skip


def create_queue(
    workers: int = 4,
    url: str | None = None,
    *,
    name: str = "default",
    lease: float | timedelta = 30.0,
    serializer: Serializer | None = None,
    clock: Clock | None = None,
    keep_completed: float | timedelta | None = None,
    keep_failed: float | timedelta | None = None,
    age_after: float | timedelta | None = None,
) -> Queue:
    """Create a queue on the store that ``url`` names.

    ``url`` defaults to the ``CONVEYOR_URL`` environment variable, then to the embedded
    ``sqlite:///conveyor.db``. Nothing is opened until first use. ``keep_completed`` and
    ``keep_failed`` (seconds or ``timedelta``; default: for ever) are how long completed,
    and failed or cancelled, jobs are kept before started queues delete them.
    ``age_after`` (seconds or ``timedelta``; default: strict priority) turns on aging: a
    pending job that waited that long goes up one priority level (see
    :mod:`conveyor.runtime.aging`).

    >>> queue = create_queue(workers=4, url="memory://")
    """
    _check_workers(workers)
    lease_seconds = _config_seconds(lease, "lease")
    retention = check_retention(keep_completed, keep_failed, where=f"queue {name!r}")
    aging = None if age_after is None else _config_seconds(age_after, "age_after")
    store = store_from_url(url or os.environ.get("CONVEYOR_URL") or DEFAULT_URL, clock)
    return Queue(store, name=name, workers=workers, lease=lease_seconds,
                 serializer=serializer or JSON, retention=retention, age_after=aging)  # fmt: skip


def _config_seconds(value: float | timedelta, what: str) -> float:
    """Check a queue's setting of seconds (more than 0); a ConfigurationError if bad."""
    try:
        return check_seconds(value, what, allow_zero=False)
    except InvalidJobError as exc:
        raise ConfigurationError(str(exc)) from None


def _check_queue_name(name: object) -> str:
    # Bounded so that any job's event fits in one message on every store (a PostgreSQL
    # NOTIFY holds 8,000 bytes; a name written as JSON can take six times its length).
    if not isinstance(name, str) or not name or len(name) > 200:
        raise ConfigurationError(
            f"queue name must be a non-empty string of at most 200 characters, got {name!r}"
        )
    return name


def _check_workers(workers: object) -> int:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigurationError(f"workers must be a whole number, 1 or more, got {workers!r}")
    return workers


def _check_status(status: JobStatus | str) -> JobStatus:
    try:
        return JobStatus(status)
    except ValueError:
        known = ", ".join(s.value for s in JobStatus)
        raise InvalidJobError(f"unknown job status {status!r}; one of: {known}") from None


BULK_BATCH = 1000
"""Jobs a bulk operation changes per store call (and transaction)."""


async def _in_batches(
    step: Callable[[JobMatch, int], Awaitable[int]],
    match: JobMatch,
    on_batch: Callable[[int], object] | None,
) -> int:
    total = 0
    while True:
        done = await step(match, BULK_BATCH)
        total += done
        if on_batch is not None and done:
            on_batch(done)
        if done < BULK_BATCH:
            return total


def _rerun_spec(job: Job, payload: Any, options: Mapping[str, Any]) -> JobSpec:
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


def _given(**options: Any) -> dict[str, Any]:
    return {key: value for key, value in options.items() if value is not None}
