"""Hooks: the one seam where what watches a queue hangs, around enqueues and attempts.

Metrics (:meth:`Queue.enable_metrics <conveyor.Queue.enable_metrics>`), tracing
(:meth:`~conveyor.Queue.enable_tracing`) and :class:`conveyor.testing.QueueTester` are
hooks; so can an application's own be (``queue.hooks.add(MyHook())``)::

    class SlowJobs(Hook):
        def finished(self, job, status, seconds):
            if seconds > 10:
                log.warning("job %s took %.0f s", job.id, seconds)

A hook overrides the methods it needs; the others cost nothing, since the queue calls
only the hooks that override each method, in the order they were added. Hooks run in
the process that enqueues (``sending``, ``stored``, ``after_enqueue``) or that runs the
attempt (``started``, ``running``, ``finished``). An exception raised by ``sending`` or
``after_enqueue`` reaches the enqueue's caller, one raised by ``running`` fails the
attempt; the observers ``stored``, ``started`` and ``finished`` come after the fact, so
what they raise is logged (``conveyor.hooks``) and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from typing import TypeVar

from ..job import Job, JobStatus
from ..stores.records import JobRecord

log = logging.getLogger("conveyor.hooks")

T = TypeVar("T")
_NOTHING: AbstractContextManager[None] = nullcontext()


class Hook:
    """Watches a queue's enqueues and its workers' attempts; see the module docstring."""

    def sending(self, records: Sequence[JobRecord]) -> AbstractContextManager[None]:
        """Wrap the store's write of new jobs (``enqueue`` or ``enqueue_many``, one call).

        The records may still be changed here (headers, for a trace context).
        """
        return _NOTHING

    def stored(self, records: Sequence[JobRecord]) -> None:
        """Note new jobs just stored (not called for a unique key another job holds)."""

    async def after_enqueue(self) -> None:
        """Run before an awaited enqueue returns, inside :meth:`sending`.

        A blocking enqueue (``queue.sync``) then goes through the event loop too.
        """

    def started(self, job: Job) -> None:
        """Note an attempt of ``job`` that starts (``job.attempts`` counts it)."""

    def running(self, job: Job) -> AbstractContextManager[None]:
        """Wrap the handler's run of one attempt."""
        return _NOTHING

    def finished(self, job: Job, status: JobStatus, seconds: float) -> None:
        """Note an attempt that ended as ``status`` after ``seconds``.

        ``SCHEDULED``: it will be retried; ``PENDING``: a stop put it back unfinished.
        """


def _overrides(hook: Hook, method: str) -> bool:
    return getattr(type(hook), method) is not getattr(Hook, method)


class Hooks:
    """A queue's hooks (``queue.hooks``), each called where it overrides :class:`Hook`."""

    def __init__(self) -> None:
        self._hooks: tuple[Hook, ...] = ()
        self._refresh()

    def add(self, hook: Hook) -> Hook:
        """Add ``hook`` after the others (once); return it."""
        if hook not in self._hooks:
            self._hooks = (*self._hooks, hook)
            self._refresh()
        return hook

    def remove(self, hook: Hook) -> None:
        """Remove ``hook`` (nothing happens if it is not there)."""
        self._hooks = tuple(h for h in self._hooks if h is not hook)
        self._refresh()

    def __iter__(self) -> Iterator[Hook]:
        return iter(self._hooks)

    def _refresh(self) -> None:
        def overriding(method: str) -> tuple[Hook, ...]:
            return tuple(h for h in self._hooks if _overrides(h, method))

        self._sending, self._stored = overriding("sending"), overriding("stored")
        self._after_enqueue = overriding("after_enqueue")
        self._started, self._running = overriding("started"), overriding("running")
        self._finished = overriding("finished")
        self.wrap_sending = bool(self._sending)
        """True if a hook wraps the store's writes (else callers may skip :meth:`sending`)."""
        self.wait_after_enqueue = bool(self._after_enqueue)
        """True if a hook runs before an enqueue returns (a blocking one then takes the loop)."""

    def sending(self, records: Sequence[JobRecord]) -> AbstractContextManager[None]:
        """Every hook's :meth:`Hook.sending`, the first one outermost."""
        return _nested([hook.sending for hook in self._sending], records)

    def stored(self, records: Sequence[JobRecord]) -> None:
        """Call every hook's :meth:`Hook.stored`."""
        for hook in self._stored:
            try:
                hook.stored(records)
            except Exception:
                log.exception("hook %r failed on stored jobs", hook)

    async def after_enqueue(self) -> None:
        """Await every hook's :meth:`Hook.after_enqueue`."""
        for hook in self._after_enqueue:
            await hook.after_enqueue()

    def started(self, job: Job) -> None:
        """Call every hook's :meth:`Hook.started`."""
        for hook in self._started:
            try:
                hook.started(job)
            except Exception:
                log.exception("hook %r failed on the start of job %s", hook, job.id)

    def running(self, job: Job) -> AbstractContextManager[None]:
        """Every hook's :meth:`Hook.running`, the first one outermost."""
        return _nested([hook.running for hook in self._running], job)

    def finished(self, job: Job, status: JobStatus, seconds: float) -> None:
        """Call every hook's :meth:`Hook.finished`."""
        for hook in self._finished:
            try:
                hook.finished(job, status, seconds)
            except Exception:
                log.exception("hook %r failed on the end of job %s", hook, job.id)


def _nested(
    wrappers: Sequence[Callable[[T], AbstractContextManager[None]]], value: T
) -> AbstractContextManager[None]:
    if not wrappers:
        return _NOTHING
    if len(wrappers) == 1:
        return wrappers[0](value)
    return _all(wrappers, value)


@contextmanager
def _all(
    wrappers: Sequence[Callable[[T], AbstractContextManager[None]]], value: T
) -> Iterator[None]:
    with ExitStack() as stack:
        for wrap in wrappers:
            stack.enter_context(wrap(value))
        yield
