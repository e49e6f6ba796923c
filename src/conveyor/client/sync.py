"""Blocking twins of the ``Queue`` coroutines, for code without an event loop.

One portal thread per queue runs an event loop; each twin submits its coroutine there
and waits for the answer. The twins are made from the coroutines in one place
(:func:`twin`; their table is :class:`~conveyor.client.queue.SyncQueue`), never
written by hand, and a test checks every coroutine has one.

Enqueues skip the portal where the store can write on the calling thread (SQLite,
Redis and PostgreSQL, once open): the caller blocks either way, and the threads it
would wake (the portal's, and SQLite's writer) cost more than the write.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterable, Sequence
from datetime import timedelta
from functools import wraps
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar, cast

from ..errors import ConveyorError
from ..retry import check_seconds
from .records import JobSpec, RecordFactory, given
from .writer import NewJobs

P = ParamSpec("P")
R = TypeVar("R")
Q = TypeVar("Q")


class Portal:
    """A daemon thread running an event loop that other threads submit coroutines to."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def call(self, coroutine: Coroutine[Any, Any, R]) -> R:
        """Run ``coroutine`` on the portal's loop and block until it returns."""
        loop = self._ensure_loop()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            coroutine.close()
            raise ConveyorError("a queue.sync method was called from its own portal loop")
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result()

    def loop(self) -> asyncio.AbstractEventLoop:
        """Return the portal's event loop, starting its thread if needed."""
        return self._ensure_loop()

    def close(self) -> None:
        """Stop the portal's loop and thread; a later call starts them again."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="conveyor-sync-portal", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop


class OnThisThread:
    """Enqueues on the calling thread, blocking, where the store can; else does nothing.

    For the twins of ``enqueue``, ``schedule`` and ``enqueue_many`` (see the module
    docstring): each returns what the coroutine would, or ``None`` where the event loop
    must do it (a unique key, a transaction's connection, a hook that waits after the
    enqueue, a store that writes only on its loop).
    """

    # A second enqueue path, kept for speed: bench/shortcuts.py blocking-enqueue
    # (queue.sync.enqueue on SQLite +80 %), blocking-enqueue-redis (on Redis +105 to
    # +119 %), blocking-enqueue-pg (on PostgreSQL +49 to +76 %).

    def __init__(self, records: RecordFactory, new: NewJobs) -> None:
        self._records = records
        self._new = new

    def enqueue(
        self,
        /,
        name: str,
        payload: Any = None,
        *,
        key: str | None = None,
        unique_for: float | timedelta | None = None,
        depends_on: Sequence[str] | None = None,
        connection: Any = None,
        job_id: str | None = None,
        **options: Any,
    ) -> str | None:
        """:meth:`Queue.enqueue` here, or ``None``."""
        if key is not None or unique_for is not None or not self._new.may_store_here(connection):
            return None
        record = self._records.new(name, payload, given(**options), depends_on, job_id)
        return self._new.store_here([record])

    def schedule(
        self, /, name: str, payload: Any, delay: float | timedelta, **config: Any
    ) -> str | None:
        """:meth:`Queue.schedule` here, or ``None``."""
        check_seconds(delay, "delay")
        return self.enqueue(name, payload, delay=delay, **config)

    def enqueue_many(self, jobs: Iterable[JobSpec], *, connection: Any = None) -> list[str] | None:
        """:meth:`Queue.enqueue_many` here, or ``None``."""
        if not self._new.may_store_here(connection):
            return None
        records = self._records.many(jobs)
        if records:
            self._new.store_here(records)
        return [record.id for record in records]


class TwinTable(Protocol):
    """What a twin reads of the object it is a method of (:class:`SyncQueue`)."""

    queue: Any
    """The facade whose coroutine the twin runs."""
    here: OnThisThread
    portal: Portal


def twin(
    method: Callable[Concatenate[Q, P], Coroutine[Any, Any, R]],
    *,
    closes_portal: bool = False,
    here: Callable[Concatenate[OnThisThread, P], R | None] | None = None,
) -> Callable[Concatenate[TwinTable, P], R]:
    """Make the blocking twin of the facade's coroutine ``method``, for :class:`SyncQueue`.

    ``here``, if given, does the same on the calling thread and returns None, having
    done nothing, where it can not: then the portal runs ``method``.
    """

    @wraps(method)
    def blocking(self: TwinTable, *args: P.args, **kwargs: P.kwargs) -> R:
        if here is not None:
            done = here(self.here, *args, **kwargs)
            if done is not None:
                return done
        result = self.portal.call(method(self.queue, *args, **kwargs))
        if closes_portal:
            self.portal.close()
        return result

    blocking.__doc__ = f"Blocking twin of :meth:`Queue.{method.__name__}`.\n\n{method.__doc__}"
    return cast("Callable[Concatenate[TwinTable, P], R]", blocking)
