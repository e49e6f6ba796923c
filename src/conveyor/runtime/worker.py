"""The worker: claim → run → settle, with timeouts, heartbeats and a graceful stop.

One :class:`Worker` runs up to ``concurrency`` jobs of one process at once. It claims
only what it has free slots for, so the backlog stays in the store. It decides what
an attempt's outcome is (completed, retry later, failed, cancelled, released); the
store applies it atomically, and only if this worker still owns the attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import json
import logging
import os
import random
import socket
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .. import events
from ..clock import to_datetime
from ..definitions import dependencies
from ..definitions.chains import STEPS
from ..definitions.dependencies import DEPENDS_ON
from ..definitions.handlers import Handler
from ..definitions.hooks import Hooks
from ..errors import (
    ConveyorError,
    JobTimeoutError,
    RemoteHandlerError,
    SerializationError,
    UnknownJobError,
)
from ..events import EventEmitter
from ..job import Job, JobConfig, JobStatus, ask_cancel, begin_attempt, end_attempt
from ..logs import log_job
from ..serializers import Serializer
from ..stores.base import Store
from ..stores.records import JobRecord, Outcome
from .process import run_in_process
from .tasks import cancel_and_wait

log = logging.getLogger("conveyor.worker")

MakeJob = Callable[[JobRecord], Job]


SLOT_WAIT = (0.1, 0.5)
"""Seconds (from, to: chosen at random) a job waits when its concurrency limit is full."""
HOOK_GRACE = 5.0
"""Seconds a stop waits for ``on_failure`` hooks still running."""
PRESENCE_EVERY = 5.0
"""Seconds between two beats that tell the store this worker is alive."""
PRESENCE_TTL = 15.0
"""A worker whose last beat is older than this is no longer listed."""


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A worker process as it last told the store (``queue.get_workers()``)."""

    id: str
    host: str
    pid: int
    queues: tuple[str, ...]
    concurrency: int
    started_at: datetime
    seen_at: datetime
    running: tuple[str, ...]
    """Ids of the jobs it ran at its last beat."""

    @classmethod
    def from_json(cls, info: str) -> WorkerInfo:
        """Read the JSON a worker beats with."""
        data = json.loads(info)
        return cls(
            id=data["id"], host=data["host"], pid=int(data["pid"]),
            queues=tuple(data["queues"]), concurrency=int(data["concurrency"]),
            started_at=datetime.fromtimestamp(data["started_at"], UTC),
            seen_at=datetime.fromtimestamp(data["seen_at"], UTC),
            running=tuple(data["running"]),
        )  # fmt: skip


@dataclass(slots=True)
class _Running:
    job: Job
    record: JobRecord
    task: asyncio.Task[None] | None = None
    cancel_requested: bool = False
    lost: bool = False
    began: bool = False
    """Set when the job's task first runs. A task cancelled before that ends without
    running a line of it, so it would never settle: until then nobody cancels it, and
    it looks at what was asked meanwhile as it begins."""
    settling: bool = False
    slot: tuple[str, int] | None = None
    """The concurrency slot (bucket, limit) the job holds while it runs."""
    started: float = field(default_factory=time.monotonic)


def _interruptible(running: _Running) -> bool:
    """Say whether cancelling the job's task now stops it and settles it as interrupted."""
    return running.began and not running.settling


class Worker:
    """Runs jobs from ``queues`` of ``store`` with the given handlers."""

    def __init__(
        self,
        *,
        store: Store,
        handlers: Mapping[str, Handler],
        queues: Sequence[str],
        concurrency: int,
        lease: float,
        serializer: Serializer,
        emitter: EventEmitter,
        make_job: MakeJob,
        idle_poll: float = 1.0,
        hooks: Hooks | None = None,
        continue_chain: Callable[[Job, Any], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self.handlers = handlers
        self.queues = list(queues)
        self.concurrency = concurrency
        self.lease = lease
        self.serializer = serializer
        self.emitter = emitter
        self.make_job = make_job
        self.idle_poll = idle_poll
        self.hooks = hooks if hooks is not None else Hooks()
        self.continue_chain = continue_chain
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._running: dict[str, _Running] = {}
        self._slot_freed = asyncio.Event()
        self._stopping = False
        self._putting_back = False
        """Set when a stop's deadline passed: jobs not begun yet are put back unrun."""
        self._hurry = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._threads = ThreadPoolExecutor(concurrency, thread_name_prefix="conveyor-handler")
        self._hooks: set[asyncio.Task[None]] = set()

    @property
    def running_job_ids(self) -> list[str]:
        """Ids of the jobs whose handlers run now (not those whose outcome is being stored)."""
        return [job_id for job_id, running in self._running.items() if not running.settling]

    # -- life cycle --------------------------------------------------------------------

    def start(self) -> None:
        """Start claiming, heartbeats and lease recovery as tasks of the running loop."""
        self._loops = [
            asyncio.create_task(self._claim_loop(), name="conveyor-claim"),
            asyncio.create_task(self._heartbeat_loop(), name="conveyor-heartbeat"),
            asyncio.create_task(self._recovery_loop(), name="conveyor-recovery"),
            asyncio.create_task(self._presence_loop(), name="conveyor-presence"),
        ]

    async def stop(self, timeout: float | None = None) -> None:
        """Stop claiming, wait for running jobs; at ``timeout``, put the rest back."""
        self._stopping = True
        self._slot_freed.set()
        self.store.changes.fire()
        claim_loop, *others = self._loops
        await asyncio.gather(claim_loop, return_exceptions=True)
        tasks = {r.task for r in self._running.values() if r.task is not None}
        if tasks:
            pending = await self._wait_running(tasks, timeout)
            if pending:
                log.warning("stop deadline reached: %d unfinished job(s) put back", len(pending))
                self._putting_back = True
                await cancel_and_wait(pending, cancel_while=self._interruptible_task)
        await cancel_and_wait(others)
        if self._hooks:
            await asyncio.wait(self._hooks, timeout=HOOK_GRACE)
        with contextlib.suppress(ConveyorError):
            await self.store.forget_worker(self.worker_id)
        self._threads.shutdown(wait=False, cancel_futures=True)

    def _interruptible_task(self, task: asyncio.Task[Any]) -> bool:
        """Tell whether the job task may be cancelled: begun, and not settling yet."""
        return any(r.task is task and _interruptible(r) for r in self._running.values())

    def hurry(self) -> None:
        """Make a stop in progress put the running jobs back now instead of waiting."""
        self._hurry.set()

    async def _wait_running(
        self, tasks: set[asyncio.Task[None]], timeout: float | None
    ) -> set[asyncio.Task[None]]:
        """Wait for ``tasks`` until ``timeout`` or :meth:`hurry`; return the unfinished."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        hurry = asyncio.create_task(self._hurry.wait())
        pending = set(tasks)
        try:
            while pending and not hurry.done():
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    break
                done, _ = await asyncio.wait(
                    pending | {hurry}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
                pending -= done
        finally:
            hurry.cancel()
        return pending

    def cancel_local(self, job_id: str) -> bool:
        """Stop a job this worker runs because it was cancelled; False if not held here."""
        running = self._running.get(job_id)
        if running is None or running.task is None:
            return False
        running.cancel_requested = True
        ask_cancel(running.job)
        if _interruptible(running):  # else it begins later, or its outcome is being stored
            running.task.cancel()
        return True

    # -- claiming ----------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        outage = _Backoff()
        while not self._stopping:
            free = self._free_slots()
            if free <= 0:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                await asyncio.sleep(0)  # let sibling jobs finish too: claim them as one batch
                continue
            generation = self.store.changes.generation
            try:
                records = await self.store.claim(self.queues, free, self.worker_id, self.lease)
                if not records:
                    records = await self.store.wait_for_work(
                        self.queues, free, self.worker_id, self.lease,
                        await self._idle_timeout(), generation,
                    )  # fmt: skip
                outage.reset()
            except ConveyorError as exc:
                await outage.wait("claim", exc)
                continue
            if self._stopping:
                await self._release_unstarted(records)
                return
            for record in records:
                self._start(record)
            if records:
                # The jobs begin before the next claim is sent (a send can hand the CPU
                # to the server at once): a job found after a wait starts sooner.
                await asyncio.sleep(0)

    def _free_slots(self) -> int:
        """Say how many jobs to claim now.

        A job frees its slot when its handler ends, not once its outcome is stored: the
        next claim goes out while the outcomes are written, instead of after them (a
        round trip less per batch of short jobs). Jobs still settling count against a
        second ``concurrency``, so that a slow store can not make them pile up.
        """
        in_handler = sum(1 for running in self._running.values() if not running.settling)
        return min(self.concurrency - in_handler, 2 * self.concurrency - len(self._running))

    async def _idle_timeout(self) -> float:
        try:
            due = await self.store.next_due(self.queues)
        except ConveyorError:
            return self.idle_poll
        if due is None:
            return self.idle_poll
        return min(max(due - self.store.clock.now(), 0.0), self.idle_poll)

    async def _release_unstarted(self, records: list[JobRecord]) -> None:
        outcomes = [Outcome(r.id, self.worker_id, r.attempts, JobStatus.PENDING) for r in records]
        if outcomes:
            await self.store.settle(outcomes)

    def _start(self, record: JobRecord) -> None:
        try:
            job = self.make_job(record)
        except SerializationError as exc:
            job = Job(record.id, record.name, record.queue, None, record.status, _bare(record))
            running = _Running(job, record, settling=True)
            self._running[record.id] = running
            running.task = asyncio.create_task(self._fail_undecodable(running, exc))
            return
        running = _Running(job, record)
        self._running[record.id] = running
        running.task = asyncio.create_task(self._run(running), name=f"conveyor-job-{record.id}")

    # -- running -----------------------------------------------------------------------

    async def _run(self, running: _Running) -> None:
        job, record = running.job, running.record
        running.began = True
        if running.cancel_requested or running.lost or self._putting_back:
            await self._end_unstarted(running, self._interrupted(running))
            return
        if not await self._may_start(running):
            return
        begin_attempt(job, self._report_progress, asyncio.get_running_loop())
        self.hooks.started(job)
        log_job(log, "job %s (%s) attempt %d started", job.id, job.name, job.attempts,
                job_id=job.id, job_name=job.name, queue=job.queue, attempt=job.attempts,
                status=JobStatus.PROCESSING.value)  # fmt: skip
        self.emitter.emit(events.JOB_STARTED, job)
        try:
            with self.hooks.running(job):
                value = await self._call_and_continue(job)
            outcome = Outcome(
                job.id, self.worker_id, record.attempts, JobStatus.COMPLETED,
                result=self.serializer.dumps(value),
            )  # fmt: skip
            job.result = value
        except asyncio.CancelledError:
            outcome = self._interrupted(running)
        except Exception as exc:
            outcome = self._failure(job, record, exc)
        finally:
            end_attempt(job)
            self._settling(running)
        await self._settle(running, outcome)

    async def _may_start(self, running: _Running) -> bool:
        """Check dependencies, rate and concurrency limits; False: the job was settled."""
        try:
            if DEPENDS_ON in running.job.headers and not await self._dependencies_done(running):
                return False
            return await self._take_start(running) and await self._take_slot(running)
        except asyncio.CancelledError:  # stopped (or its lease lost) before it started
            await self._end_unstarted(running, self._interrupted(running))
            return False

    async def _dependencies_done(self, running: _Running) -> bool:
        """Say whether the job's dependencies are done; if not, postpone or cancel it."""
        job, record = running.job, running.record
        waited = self.store.clock.now() - record.created_at
        try:
            verdict = await dependencies.check(
                self.store, job.headers, waited, self.serializer.loads
            )
        except ConveyorError as exc:  # the store is out of reach, or a result unreadable
            log.warning("job %s: could not look at its dependencies: %s", job.id, exc)
            verdict = dependencies.Verdict(wait=dependencies.MOST_WAIT)
        if verdict.results is not None:
            job.payload = verdict.results
        if verdict.wait is None and verdict.broken is None:
            return True
        if verdict.broken is not None:
            outcome = Outcome(job.id, self.worker_id, record.attempts, JobStatus.CANCELLED,
                              error=f"not run: {verdict.broken}")  # fmt: skip
            await self._end_unstarted(running, outcome)
        else:
            await self._postpone(running, verdict.wait or 0.0)
        return False

    async def _take_start(self, running: _Running) -> bool:
        """Take a start of the handler's rate limit; if none is due yet, postpone."""
        job = running.job
        handler = self.handlers.get(job.name)
        if handler is None or handler.rate_limit is None:
            return True
        count, period = handler.rate_limit
        try:
            bucket = _bucket(job, handler.rate_key)
            wait = await self.store.take_start(bucket, period / count)
        except ConveyorError as exc:
            log.warning("job %s: could not take a start of its rate limit: %s", job.id, exc)
            wait = period / count
        except Exception as exc:  # the rate_key function raised: a failed attempt
            await self._end_unstarted(running, self._failure(job, running.record, exc))
            return False
        if wait > 0:
            await self._postpone(running, wait)
            return False
        return True

    async def _take_slot(self, running: _Running) -> bool:
        """Take a slot of the handler's concurrency limit; if none is free, postpone."""
        job = running.job
        handler = self.handlers.get(job.name)
        if handler is None or handler.concurrency is None:
            return True
        try:
            bucket = _bucket(job, handler.concurrency_key)
            taken = await self.store.acquire_slot(bucket, handler.concurrency, job.id, self.lease)
        except ConveyorError as exc:
            log.warning("job %s: could not take a concurrency slot: %s", job.id, exc)
            taken = False
        except Exception as exc:  # the concurrency_key function raised: a failed attempt
            await self._end_unstarted(running, self._failure(job, running.record, exc))
            return False
        if not taken:
            await self._postpone(running, random.uniform(*SLOT_WAIT))
            return False
        running.slot = (bucket, handler.concurrency)
        return True

    async def _postpone(self, running: _Running, wait: float) -> None:
        """Put a claimed job back for ``wait`` seconds, its attempt given back."""
        job, record = running.job, running.record
        outcome = Outcome(job.id, self.worker_id, record.attempts, JobStatus.SCHEDULED,
                          retry_delay=wait, postponed=True)  # fmt: skip
        await self._end_unstarted(running, outcome)

    async def _end_unstarted(self, running: _Running, outcome: Outcome) -> None:
        self._settling(running)
        await self._settle(running, outcome, started=False)

    def _settling(self, running: _Running) -> None:
        """Mark the job's handler as over: its slot may take another job (see _free_slots)."""
        running.settling = True
        self._slot_freed.set()

    async def _call_and_continue(self, job: Job) -> Any:
        """Run the handler; for a job of a chain, enqueue the next step before settling."""
        value = await self._call(job)
        if self.continue_chain is not None and STEPS in job.headers:
            await self.continue_chain(job, value)
        return value

    async def _call(self, job: Job) -> Any:
        handler = self.handlers.get(job.name)
        if handler is None:
            raise UnknownJobError(
                f"no handler for job name {job.name!r} in this worker"
                f" (it knows: {sorted(self.handlers) or 'none'}); the job is kept for a"
                " worker that has one"
            )
        timeout = job.config.timeout
        if handler.is_async:
            coroutine = handler.func(job)
        elif handler.run_in == "process":
            coroutine = run_in_process(handler.func, job, self._report_progress)
        else:
            loop = asyncio.get_running_loop()
            # The thread runs in a copy of this task's context (its current span...).
            context = contextvars.copy_context()
            coroutine = loop.run_in_executor(self._threads, context.run, handler.func, job)
        if timeout is None:
            return await coroutine
        return await _within(coroutine, timeout, job.id)

    def _interrupted(self, running: _Running) -> Outcome:
        job, attempt = running.job, running.record.attempts
        if running.cancel_requested:
            return Outcome(job.id, self.worker_id, attempt, JobStatus.CANCELLED,
                           error="cancelled while running")  # fmt: skip
        return Outcome(job.id, self.worker_id, attempt, JobStatus.PENDING)

    def _failure(self, job: Job, record: JobRecord, exc: BaseException) -> Outcome:
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

    async def _fail_undecodable(self, running: _Running, exc: SerializationError) -> None:
        self.hooks.started(running.job)
        record = running.record
        outcome = Outcome(record.id, self.worker_id, record.attempts, JobStatus.FAILED,
                          error=f"SerializationError: {exc}")  # fmt: skip
        await self._settle(running, outcome)

    # -- settling ----------------------------------------------------------------------

    async def _settle(self, running: _Running, outcome: Outcome, *, started: bool = True) -> None:
        job = running.job
        if running.slot is not None:  # the handler is over: the next job may take the slot
            bucket, running.slot = running.slot[0], None
            with contextlib.suppress(ConveyorError):  # else it runs out with the lease
                await self.store.release_slot(bucket, job.id)
        try:
            if running.lost:
                log.warning("job %s: lease lost, its outcome is dropped", job.id)
                return
            applied = await self._settle_with_retries(outcome)
            if applied:
                self._announce(running, outcome)
        finally:
            self._running.pop(job.id, None)
            self._slot_freed.set()
            if started:
                self.hooks.finished(job, outcome.status, time.monotonic() - running.started)

    async def _settle_with_retries(self, outcome: Outcome) -> bool:
        outage = _Backoff()
        deadline = time.monotonic() + self.lease
        while True:
            try:
                return (await self.store.settle([outcome]))[0]
            except ConveyorError as exc:
                if time.monotonic() > deadline:
                    log.error("job %s: could not record its outcome (%s); its lease will"
                              " expire and it will run again", outcome.job_id, exc)  # fmt: skip
                    return False
                await outage.wait("settle", exc)

    def _announce(self, running: _Running, outcome: Outcome) -> None:
        job = running.job
        if outcome.postponed:
            log.debug("job %s (%s) waits for its dependencies", job.id, job.name)
            return
        job.status = outcome.status
        job.error, job.traceback = outcome.error, outcome.traceback
        if outcome.status is JobStatus.PENDING:
            job.attempts -= 1
            log.info("job %s (%s) put back unfinished", job.id, job.name)
            return
        if outcome.status.is_finished:
            job.completed_at = to_datetime(self.store.clock.now())
        _log_outcome(job, outcome, time.monotonic() - running.started)
        name = _EVENT_OF_STATUS[outcome.status]
        if self.emitter.has_listeners(name):
            self.emitter.emit(name, job)
        if outcome.status is JobStatus.FAILED:
            handler = self.handlers.get(job.name)
            if handler is not None and handler.on_failure is not None:
                self._hooks.add(asyncio.create_task(self._on_failure(handler.on_failure, job)))

    async def _on_failure(self, hook: Callable[[Job], Any], job: Job) -> None:
        """Run a handler's ``on_failure`` hook; what it raises is logged."""
        try:
            if inspect.iscoroutinefunction(hook):
                await hook(job)
            else:  # a plain function runs on the handlers' threads, not the loop
                await asyncio.get_running_loop().run_in_executor(self._threads, hook, job)
        except Exception:
            log.exception("on_failure hook of %r raised for job %s", job.name, job.id)
        finally:
            task = asyncio.current_task()
            if task is not None:
                self._hooks.discard(task)

    async def _report_progress(self, job: Job, percent: float, message: str | None) -> None:
        await self.store.set_progress(job.id, self.worker_id, percent, message)
        self.emitter.emit(events.JOB_PROGRESS, job)

    # -- leases ------------------------------------------------------------------------

    async def _presence_loop(self) -> None:
        started = self.store.clock.now()
        while True:
            info = {
                "id": self.worker_id, "host": socket.gethostname(), "pid": os.getpid(),
                "queues": self.queues, "concurrency": self.concurrency,
                "started_at": started, "seen_at": self.store.clock.now(),
                "running": self.running_job_ids[:100],
            }  # fmt: skip
            try:
                await self.store.beat_worker(self.worker_id, json.dumps(info), PRESENCE_TTL)
            except ConveyorError as exc:
                log.debug("worker beat failed: %s", exc)
            await asyncio.sleep(PRESENCE_EVERY)

    async def _heartbeat_loop(self) -> None:
        interval = max(self.lease / 3, 0.05)
        while True:
            await asyncio.sleep(interval)
            held = list(self._running)
            if not held:
                continue
            try:
                renewal = await self.store.renew(held, self.worker_id, self.lease)
            except ConveyorError as exc:
                log.warning("heartbeat failed: %s", exc)
                continue
            for job_id in renewal.lost:
                running = self._running.get(job_id)
                if running is not None and running.task is not None and not running.settling:
                    log.warning("job %s: lease lost to another worker; stopping it", job_id)
                    running.lost = True
                    if _interruptible(running):  # else it drops its outcome as it begins
                        running.task.cancel()
            for job_id in renewal.cancel_requested:
                self.cancel_local(job_id)
            await self._renew_slots()

    async def _renew_slots(self) -> None:
        """Keep the concurrency slots of the running jobs for another lease."""
        for job_id, running in list(self._running.items()):
            if running.slot is None or running.settling:
                continue
            bucket, limit = running.slot
            try:
                kept = await self.store.acquire_slot(bucket, limit, job_id, self.lease)
            except ConveyorError as exc:
                log.warning("job %s: could not renew its concurrency slot: %s", job_id, exc)
                continue
            if not kept:
                log.warning("job %s: its concurrency slot of %s ran out and was taken", job_id,
                            bucket)  # fmt: skip

    async def _recovery_loop(self) -> None:
        interval = min(max(self.lease / 2, 0.05), 5.0)
        while True:
            try:
                recovered = await self.store.recover_expired()
            except ConveyorError as exc:
                log.warning("lease recovery failed: %s", exc)
                recovered = []
            if recovered:
                log.warning("requeued %d job(s) of workers that stopped renewing their lease:"
                            " %s", len(recovered), ", ".join(recovered[:10]))  # fmt: skip
            await asyncio.sleep(interval)


_VERB = {
    JobStatus.COMPLETED: "completed",
    JobStatus.SCHEDULED: "failed",
    JobStatus.FAILED: "failed for good",
    JobStatus.CANCELLED: "cancelled",
}


async def _within(awaitable: Awaitable[Any], seconds: float, job_id: str) -> Any:
    """Await ``awaitable``; cancel it and raise :class:`JobTimeoutError` after ``seconds``.

    As ``asyncio.timeout`` does, with one timer and no context manager: this runs once
    per job, where that costs about twice as much. A cancellation from elsewhere (the
    job was cancelled, the worker stops) stays a cancellation.
    """
    task = asyncio.current_task()
    assert task is not None
    expired = False

    def expire() -> None:
        nonlocal expired
        expired = True
        task.cancel()

    loop = asyncio.get_running_loop()
    timer = loop.call_at(loop.time() + seconds, expire)
    try:
        value = await awaitable
    except asyncio.CancelledError:
        if expired and task.uncancel() == 0:
            raise JobTimeoutError(f"job {job_id} timed out after {seconds:g} s") from None
        raise
    finally:
        timer.cancel()
    if expired:  # the handler swallowed the cancellation and returned
        task.uncancel()
    return value


def _bucket(job: Job, key: Callable[[Any], str] | None) -> str:
    """Return the limit bucket of a job: its queue and name, and its key if any."""
    bucket = f"{job.queue}:{job.name}"
    return bucket if key is None else f"{bucket}:{key(job.payload)}"


def _log_outcome(job: Job, outcome: Outcome, seconds: float) -> None:
    """Log one line for how an attempt ended, with the job's fields as ``extra``."""
    level = logging.WARNING if outcome.status is JobStatus.FAILED else logging.INFO
    if not log.isEnabledFor(level):
        return
    fields: dict[str, object] = {
        "job_id": job.id, "job_name": job.name, "queue": job.queue, "attempt": job.attempts,
        "status": outcome.status.value, "duration_ms": round(seconds * 1000, 3),
    }  # fmt: skip
    message = "job %s (%s) attempt %d %s in %.3f s"
    args: tuple[object, ...] = (job.id, job.name, job.attempts, _VERB[outcome.status], seconds)
    if outcome.status is JobStatus.SCHEDULED:
        message += ", retry in %.3g s"
        args += (outcome.retry_delay,)
        fields["retry_in"] = outcome.retry_delay
    if outcome.error and outcome.status is not JobStatus.COMPLETED:
        message += ": %s"
        args += (outcome.error,)
        fields["error"] = outcome.error
    log_job(log, message, *args, level=level, **fields)


_EVENT_OF_STATUS = {
    JobStatus.COMPLETED: events.JOB_COMPLETED,
    JobStatus.FAILED: events.JOB_FAILED,
    JobStatus.SCHEDULED: events.JOB_RETRYING,
    JobStatus.CANCELLED: events.JOB_CANCELLED,
}


def _bare(record: JobRecord) -> JobConfig:
    return JobConfig(max_retries=record.max_retries, timeout=record.timeout)


class _Backoff:
    """Waits longer after each consecutive store failure (0.05 s up to 5 s)."""

    def __init__(self) -> None:
        self._delay = 0.05

    def reset(self) -> None:
        self._delay = 0.05

    async def wait(self, what: str, exc: BaseException) -> None:
        log.warning("store unavailable during %s (%s); retrying in %.2f s", what, exc, self._delay)
        await asyncio.sleep(self._delay)
        self._delay = min(self._delay * 2, 5.0)
