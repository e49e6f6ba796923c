"""Storing new jobs: one path from built records to the store, and what follows it.

:class:`NewJobs` writes records through the event loop (``store``) or, where the store
can (SQLite, Redis, PostgreSQL, once open), on the calling thread (``store_here``, for
the blocking twins: the caller blocks either way, and the threads it would wake cost
more than the write). Either way this process's events about the jobs wait for
their ``job:added``, the hooks see the write, and one log line tells of it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Protocol

from .. import events
from ..definitions.hooks import Hooks
from ..events import EventEmitter
from ..job import Job
from ..logs import log_job
from ..stores import JobStore
from ..stores.records import JobRecord

log = logging.getLogger("conveyor.queue")


class Owner(Protocol):
    """What the writer reads of its queue (a tester may swap the store)."""

    @property
    def store(self) -> JobStore:
        """The queue's store (read on each use: a tester may swap it)."""
        ...

    emitter: EventEmitter
    hooks: Hooks


class NewJobs:
    """Stores one queue's new jobs (see the module docstring).

    ``to_job`` reads a record as the callbacks see it; ``on_portal`` runs a coroutine on
    the blocking twins' loop and waits for it.
    """

    def __init__(
        self,
        owner: Owner,
        to_job: Callable[[JobRecord], Job],
        on_portal: Callable[[Coroutine[Any, Any, str]], str],
    ) -> None:
        self._owner = owner
        self._to_job = to_job
        self._on_portal = on_portal

    def store(
        self, records: list[JobRecord], connection: Any, *, unique: bool = False
    ) -> Awaitable[str]:
        """Store new jobs; return the first one's id (a unique key's holder's, if taken).

        Without a hook that wraps it, this is the write itself (no coroutine in between).
        """
        if not self._owner.hooks.wrap_sending:
            return self._write(records, connection, unique)
        return self._wrapped(records, connection, unique)

    def may_store_here(self, connection: Any) -> bool:
        """Say whether :meth:`store_here` can store without the event loop."""
        owner = self._owner
        return connection is None and not owner.hooks.wait_after_enqueue and owner.store.writes_here

    def store_here(self, records: list[JobRecord]) -> str:
        """Store new jobs on this thread, or through the portal if the store is busy."""
        owner = self._owner
        with owner.hooks.sending(records):
            held = self._hold_events(records, None)
            try:
                if not owner.store.enqueue_here(records):
                    return self._on_portal(self._write(records, None, False))
                self._note_added(records, None)
            finally:
                if held is not None:
                    owner.emitter.release(held)
        return records[0].id

    def announce(self, records: Sequence[JobRecord]) -> None:
        """Emit ``job:added`` for jobs this process just stored."""
        emitter = self._owner.emitter
        if emitter.has_listeners(events.JOB_ADDED):
            for record in records:
                emitter.emit(events.JOB_ADDED, self._to_job(record))

    async def _wrapped(self, records: list[JobRecord], connection: Any, unique: bool) -> str:
        with self._owner.hooks.sending(records):
            return await self._write(records, connection, unique)

    async def _write(self, records: list[JobRecord], connection: Any, unique: bool) -> str:
        owner = self._owner
        store = owner.store
        held = self._hold_events(records, connection)
        try:
            if unique:
                [record] = records
                holder = await store.enqueue_unique(record, connection=connection)
                if holder != record.id:
                    log_job(log, "job %s (%s) not added: job %s holds key %r", record.id,
                            record.name, holder, record.unique_key, job_id=holder,
                            job_name=record.name, queue=record.queue)  # fmt: skip
                    return holder
            elif connection is None:
                await store.enqueue(records)
            else:
                await store.enqueue(records, connection=connection)
            self._note_added(records, connection)
        finally:
            if held is not None:
                owner.emitter.release(held)
        if owner.hooks.wait_after_enqueue:
            await owner.hooks.after_enqueue()
        return records[0].id

    def _hold_events(self, records: Sequence[JobRecord], connection: Any) -> list[str] | None:
        """Hold this process's events about ``records`` until their job:added (if emitted)."""
        emitter = self._owner.emitter
        if connection is None and emitter.has_listeners(events.JOB_ADDED):
            return emitter.hold([record.id for record in records])
        return None

    def _note_added(self, records: Sequence[JobRecord], connection: Any) -> None:
        """Announce, log and count jobs just stored."""
        if connection is None:
            self.announce(records)
        # With a connection the jobs exist once the caller commits: job:added comes from
        # the store then.
        _log_enqueued(records, transactional=connection is not None)
        self._owner.hooks.stored(records)


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
