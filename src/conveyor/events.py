"""Lifecycle events: ``queue.on("job:completed", callback)``.

Callbacks may be plain functions or coroutines. A plain callback runs at once; a
coroutine callback runs as a task of its own, so a slow listener never holds up a
worker. A callback that raises is logged and never breaks the worker.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from .errors import ConfigurationError

log = logging.getLogger("conveyor.events")

JOB_ADDED = "job:added"
"""A job was enqueued; the callback gets the :class:`~conveyor.Job`."""
JOB_STARTED = "job:started"
"""A worker started an attempt of the job."""
JOB_PROGRESS = "job:progress"
"""The job's handler reported progress (``job.progress_percent``, ``progress_message``)."""
JOB_COMPLETED = "job:completed"
"""The job's handler returned and its result is stored."""
JOB_FAILED = "job:failed"
"""The job failed for good: it has no retries left."""
JOB_RETRYING = "job:retrying"
"""An attempt failed and the job will be retried."""
JOB_CANCELLED = "job:cancelled"
"""The job was cancelled."""
QUEUE_STARTED = "queue:started"
"""This process's workers started; the callback gets the :class:`~conveyor.Queue`."""
QUEUE_STOPPED = "queue:stopped"
"""This process's workers stopped; the callback gets the :class:`~conveyor.Queue`."""

EVENTS = frozenset(
    {
        JOB_ADDED,
        JOB_STARTED,
        JOB_PROGRESS,
        JOB_COMPLETED,
        JOB_FAILED,
        JOB_RETRYING,
        JOB_CANCELLED,
        QUEUE_STARTED,
        QUEUE_STOPPED,
    }
)
"""The names of the events conveyor emits (``queue.emit`` may emit others)."""

Callback = Callable[[Any], Awaitable[None] | None]


class EventEmitter:
    """Calls the callbacks registered for an event name.

    Events about a job whose enqueue is still on its way back (:meth:`hold`) wait until
    that enqueue emitted the job's ``job:added`` (:meth:`release`): a worker of this
    process can start the job before the enqueuing coroutine resumes.
    """

    def __init__(self) -> None:
        self._listeners: dict[str, list[Callback]] = defaultdict(list)
        self._tasks: set[asyncio.Task[None]] = set()
        self._held: dict[str, list[tuple[str, Any]]] = {}
        self._held_lock = threading.Lock()

    def on(self, event: str, callback: Callback) -> None:
        """Call ``callback(data)`` whenever ``event`` is emitted."""
        if not isinstance(event, str) or not event:
            raise ConfigurationError(f"event name must be a non-empty string, got {event!r}")
        if not callable(callback):
            raise ConfigurationError(f"event callback must be callable, got {callback!r}")
        self._listeners[event].append(callback)

    def off(self, event: str, callback: Callback | None = None) -> None:
        """Remove ``callback`` from ``event`` (every callback of it when ``None``)."""
        if callback is None:
            self._listeners.pop(event, None)
        elif callback in self._listeners.get(event, ()):
            self._listeners[event].remove(callback)

    def has_listeners(self, event: str) -> bool:
        """Tell whether something listens to ``event`` (lets callers skip building data)."""
        return bool(self._listeners.get(event))

    def hold(self, job_ids: list[str]) -> list[str]:
        """Keep events about these jobs (but their ``job:added``) back; return the ids."""
        with self._held_lock:
            for job_id in job_ids:
                self._held.setdefault(job_id, [])
        return job_ids

    def release(self, job_ids: list[str]) -> None:
        """Emit what was held back about these jobs, in order, and hold nothing more."""
        with self._held_lock:
            held = [self._held.pop(job_id, []) for job_id in job_ids]
        for events in held:
            for event, data in events:
                self.emit(event, data)

    def emit(self, event: str, data: Any = None) -> None:
        """Call every callback of ``event`` with ``data``; errors are logged."""
        if self._held and event != JOB_ADDED:
            with self._held_lock:
                held = self._held.get(getattr(data, "id", None))  # type: ignore[arg-type]
                if held is not None:
                    held.append((event, data))
                    return
        for callback in tuple(self._listeners.get(event, ())):
            try:
                outcome = callback(data)
            except Exception:
                log.exception("callback %r for %r raised", callback, event)
                continue
            if inspect.isawaitable(outcome):
                self._spawn(event, callback, outcome)

    async def drain(self) -> None:
        """Wait for running coroutine callbacks (used on stop)."""
        while self._tasks:
            await asyncio.gather(*tuple(self._tasks), return_exceptions=True)

    def _spawn(self, event: str, callback: Callback, awaitable: Awaitable[None]) -> None:
        async def guarded() -> None:
            try:
                await awaitable
            except Exception:
                log.exception("callback %r for %r raised", callback, event)

        try:
            task = asyncio.get_running_loop().create_task(guarded())
        except RuntimeError:
            asyncio.run(guarded())
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
