"""Job events from other processes, emitted on a queue's own emitter.

On Redis and PostgreSQL every job transition is published on the store. The store's
listener thread hands the events of other processes to :class:`RemoteEventBridge`,
which reads the job and emits the event locally, as if this process had run it: a web
process can follow a job a worker runs on another machine.

The listener thread cannot emit itself (callbacks belong to an event loop), so the
bridge runs each delivery on the queue's *home loop*: the loop that was running when
the first job-event listener was added, or when the queue was started or entered; in a
process with no loop of its own (Flask, Django), the sync twins' portal loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Protocol

from .. import events
from ..job import Job
from ..stores.base import Store
from ..stores.channel import StoreEvent
from ..stores.records import JobRecord

log = logging.getLogger("conveyor.events")

JOB_EVENTS = frozenset(
    {
        events.JOB_ADDED,
        events.JOB_STARTED,
        events.JOB_PROGRESS,
        events.JOB_COMPLETED,
        events.JOB_FAILED,
        events.JOB_RETRYING,
        events.JOB_CANCELLED,
    }
)


class Followed(Protocol):
    """What the bridge reads of the queue it serves (a tester may swap its store)."""

    @property
    def name(self) -> str:
        """The queue's name."""
        ...

    @property
    def store(self) -> Store:
        """The queue's store (read on each use: :meth:`Queue.point_at` may change it)."""
        ...

    emitter: events.EventEmitter


class RemoteEventBridge:
    """Subscribes a queue to its store's remote events while it has job-event listeners.

    ``to_job`` reads a stored job as the queue's own callbacks see it; ``portal_loop``
    gives the loop of the queue's blocking twins, where a process has no loop of its own.
    """

    def __init__(
        self,
        queue: Followed,
        to_job: Callable[[JobRecord], Job],
        portal_loop: Callable[[], asyncio.AbstractEventLoop],
    ) -> None:
        self._queue = queue
        self._to_job = to_job
        self._portal_loop = portal_loop
        self._lock = threading.Lock()
        self._home: asyncio.AbstractEventLoop | None = None
        self._subscribed = False

    @property
    def available(self) -> bool:
        """True if the queue's store publishes events across processes."""
        return self._queue.store.capabilities.cross_process_events

    def listener_added(self, event: str) -> None:
        """Start following other processes once somebody listens to a job event."""
        if event not in JOB_EVENTS or not self.available:
            return
        self.bind_running_loop()
        with self._lock:
            if self._subscribed:
                return
            self._subscribed = True
        self._queue.store.remote_events.subscribe(self._deliver)
        self._open_store()

    def bind_running_loop(self) -> None:
        """Make the running loop (if any, and if none is bound yet) the home loop."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        with self._lock:
            if self._home is None or self._home.is_closed():
                self._home = loop

    def close(self) -> None:
        """Stop following other processes."""
        with self._lock:
            subscribed, self._subscribed = self._subscribed, False
        if subscribed:
            self._queue.store.remote_events.unsubscribe(self._deliver)

    def _open_store(self) -> None:
        # The store listens for other processes only while open.
        asyncio.run_coroutine_threadsafe(self._queue.store.open(), self._loop()).add_done_callback(
            _log_failure
        )

    def _loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            home = self._home
        if home is not None and not home.is_closed():
            return home
        return self._portal_loop()

    def _deliver(self, event: StoreEvent) -> None:
        queue = self._queue
        if event.queue != queue.name or not queue.emitter.has_listeners(event.event):
            return
        future = asyncio.run_coroutine_threadsafe(self._emit(event), self._loop())
        future.add_done_callback(_log_failure)

    async def _emit(self, event: StoreEvent) -> None:
        record = await self._queue.store.get(event.job_id)
        if record is not None:
            self._queue.emitter.emit(event.event, self._to_job(record))


def _log_failure(future: Future[None]) -> None:
    if not future.cancelled() and (exc := future.exception()) is not None:
        log.warning("could not follow a remote job event: %s", exc)
