"""One attempt of a claimed job: start gates, handler and time limit, outcome, settle.

:meth:`Attempts.run` is the whole of one attempt, in the job's task: it passes the start
gates (``gates.py``), runs the handler within the job's time limit (in the loop, a
thread, or a process of its own with ``process.py``), decides the outcome (completed,
retry later, failed, cancelled, released), has the store apply it (retrying while the
store is out of reach, for up to a lease) and announces it: log line, event, hooks and
the handler's ``on_failure``. The worker starts one such task per claimed job.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .. import events
from ..clock import to_datetime
from ..definitions.chains import STEPS
from ..definitions.handlers import Handler
from ..definitions.hooks import Hooks
from ..errors import ConveyorError, SerializationError, UnknownJobError
from ..events import EventEmitter
from ..job import Job, JobStatus, begin_attempt, end_attempt
from ..logs import log_job
from ..serializers import Serializer
from ..stores.base import Store
from ..stores.records import Outcome
from .deadlines import Deadlines
from .gates import GO, GateVerdict, StartGates
from .outcomes import Outcomes, Running
from .process import run_in_process

log = logging.getLogger("conveyor.worker")


class Attempts:
    """Runs the attempts of one worker's jobs (see the module docstring).

    It shares with the worker the jobs it holds (``running``, by id: an attempt drops
    its job once settled), the event set whenever a job's handler is over
    (``slot_freed``) and the threads plain handlers run on (``threads``).
    """

    def __init__(
        self,
        *,
        store: Store,
        handlers: Mapping[str, Handler],
        serializer: Serializer,
        emitter: EventEmitter,
        hooks: Hooks,
        outcomes: Outcomes,
        gates: StartGates,
        lease: float,
        running: dict[str, Running],
        slot_freed: asyncio.Event,
        threads: ThreadPoolExecutor,
        continue_chain: Callable[[Job, Any], Awaitable[None]] | None,
    ) -> None:
        self._store = store
        self._handlers = handlers
        self._serializer = serializer
        self._emitter = emitter
        self._hooks = hooks
        self._outcomes = outcomes
        self._worker_id = outcomes.worker_id
        self._gates = gates.in_order
        self._slots = gates.slots
        self._lease = lease
        self._running = running
        self._slot_freed = slot_freed
        self._threads = threads
        self._continue_chain = continue_chain
        self._deadlines = Deadlines()
        self.putting_back = False
        """Set when a stop's deadline passed: jobs not begun yet are put back unrun."""
        self.on_failure_tasks: set[asyncio.Task[None]] = set()
        """The handlers' ``on_failure`` hooks still running."""

    async def run(self, running: Running) -> None:
        """Run one attempt of a held job, from its start gates to its stored outcome."""
        job, record = running.job, running.record
        running.began = True
        if running.cancel_requested or running.lost or self.putting_back:
            await self._end_unstarted(running, self._outcomes.interrupted(running))
            return
        try:
            for gate in self._gates:
                verdict = await gate.check(running)
                if verdict is not GO:
                    await self._end_unstarted(running, self._refused(running, verdict))
                    return
        except asyncio.CancelledError:  # stopped (or its lease lost) before it started
            await self._end_unstarted(running, self._outcomes.interrupted(running))
            return
        except Exception as exc:  # a gate could not read the job: a failed attempt
            await self._end_unstarted(running, self._outcomes.failure(job, record, exc))
            return
        begin_attempt(job, self._report_progress, asyncio.get_running_loop())
        self._hooks.started(job)
        log_job(log, "job %s (%s) attempt %d started", job.id, job.name, job.attempts,
                job_id=job.id, job_name=job.name, queue=job.queue, attempt=job.attempts,
                status=JobStatus.PROCESSING.value)  # fmt: skip
        self._emitter.emit(events.JOB_STARTED, job)
        try:
            with self._hooks.running(job):
                value = await self._call_and_continue(job)
            outcome = Outcome(
                job.id, self._worker_id, record.attempts, JobStatus.COMPLETED,
                result=self._serializer.dumps(value),
            )  # fmt: skip
            job.result = value
        except asyncio.CancelledError:
            outcome = self._outcomes.interrupted(running)
        except Exception as exc:
            outcome = self._outcomes.failure(job, record, exc)
        finally:
            end_attempt(job)
            self._settling(running)
        await self._settle(running, outcome)

    async def fail_undecodable(self, running: Running, exc: SerializationError) -> None:
        """Fail for good a held job whose payload could not be read (``exc``)."""
        self._hooks.started(running.job)
        record = running.record
        outcome = Outcome(record.id, self._worker_id, record.attempts, JobStatus.FAILED,
                          error=f"SerializationError: {exc}")  # fmt: skip
        await self._settle(running, outcome)

    def _refused(self, running: Running, verdict: GateVerdict) -> Outcome:
        """Return the outcome of a job that a start gate did not let start."""
        if verdict.outcome is not None:
            return verdict.outcome
        return self._outcomes.postponed(running, verdict.wait or 0.0)

    async def _end_unstarted(self, running: Running, outcome: Outcome) -> None:
        self._settling(running)
        await self._settle(running, outcome, started=False)

    def _settling(self, running: Running) -> None:
        """Mark the job's handler as over: the worker may claim another job for its slot."""
        running.settling = True
        self._slot_freed.set()

    async def _call_and_continue(self, job: Job) -> Any:
        """Run the handler; for a job of a chain, enqueue the next step before settling."""
        value = await self._call(job)
        if self._continue_chain is not None and STEPS in job.headers:
            await self._continue_chain(job, value)
        return value

    async def _call(self, job: Job) -> Any:
        handler = self._handlers.get(job.name)
        if handler is None:
            raise UnknownJobError(
                f"no handler for job name {job.name!r} in this worker"
                f" (it knows: {sorted(self._handlers) or 'none'}); the job is kept for a"
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
        return await self._deadlines.limit(coroutine, timeout, job.id)

    # -- settling ----------------------------------------------------------------------

    async def _settle(self, running: Running, outcome: Outcome, *, started: bool = True) -> None:
        job = running.job
        if running.slot is not None:  # the handler is over: the next job may take the slot
            await self._slots.release(running)
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
                self._hooks.finished(job, outcome.status, time.monotonic() - running.started)

    async def _settle_with_retries(self, outcome: Outcome) -> bool:
        outage = Backoff()
        deadline = time.monotonic() + self._lease
        while True:
            try:
                return (await self._store.settle([outcome]))[0]
            except ConveyorError as exc:
                if time.monotonic() > deadline:
                    log.error("job %s: could not record its outcome (%s); its lease will"
                              " expire and it will run again", outcome.job_id, exc)  # fmt: skip
                    return False
                await outage.wait("settle", exc)

    def _announce(self, running: Running, outcome: Outcome) -> None:
        job = running.job
        if outcome.postponed:
            log.debug(
                "job %s (%s) may not start yet (dependencies, rate or concurrency"
                " limit): back in %.3g s",
                job.id,
                job.name,
                outcome.retry_delay,
            )
            return
        job.status = outcome.status
        job.error, job.traceback = outcome.error, outcome.traceback
        if outcome.status is JobStatus.PENDING:
            job.attempts -= 1
            log.info("job %s (%s) put back unfinished", job.id, job.name)
            return
        if outcome.status.is_finished:
            job.completed_at = to_datetime(self._store.clock.now())
        _log_outcome(job, outcome, time.monotonic() - running.started)
        name = _EVENT_OF_STATUS[outcome.status]
        if self._emitter.has_listeners(name):
            self._emitter.emit(name, job)
        if outcome.status is JobStatus.FAILED:
            handler = self._handlers.get(job.name)
            if handler is not None and handler.on_failure is not None:
                task = asyncio.create_task(self._on_failure(handler.on_failure, job))
                self.on_failure_tasks.add(task)

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
                self.on_failure_tasks.discard(task)

    async def _report_progress(self, job: Job, percent: float, message: str | None) -> None:
        await self._store.set_progress(job.id, self._worker_id, percent, message)
        self._emitter.emit(events.JOB_PROGRESS, job)


class Backoff:
    """Waits longer after each consecutive store failure (0.05 s up to 5 s)."""

    def __init__(self) -> None:
        self._delay = 0.05

    def reset(self) -> None:
        """Start again from the shortest wait (the store answered)."""
        self._delay = 0.05

    async def wait(self, what: str, exc: BaseException) -> None:
        """Log that the store failed during ``what`` with ``exc``, and wait."""
        log.warning("store unavailable during %s (%s); retrying in %.2f s", what, exc, self._delay)
        await asyncio.sleep(self._delay)
        self._delay = min(self._delay * 2, 5.0)


_VERB = {
    JobStatus.COMPLETED: "completed",
    JobStatus.SCHEDULED: "failed",
    JobStatus.FAILED: "failed for good",
    JobStatus.CANCELLED: "cancelled",
}


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
