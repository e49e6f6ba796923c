"""``postgresql://user:pass@host:port/db?schema=conveyor``: a store shared by many machines.

Everything lives in one schema of its own (default ``conveyor``): the ``jobs`` table,
its partial indexes, the ``migrations`` log and the ``publish`` function. conveyor
creates and upgrades the schema itself on open (versioned migrations under an advisory
lock, see :mod:`.schema`), or, with ``?migrate=false``, refuses a schema that is missing
or older than it needs: such deployments run ``conveyor migrate URL`` (or
:func:`migrate`) once per release instead. A schema newer than this conveyor is refused
with :class:`~conveyor.errors.SchemaVersionError`.

Each transition is one statement of ``queries.sql``, prepared once per connection:
claims lock rows ``FOR UPDATE SKIP LOCKED`` in batches, outcomes are settled in
batches, and the server's ``now()`` decides what is due and when leases end
(:attr:`PostgresStore.clock` is that clock as this machine estimates it). Every
transition publishes its job events with ``NOTIFY <schema>_events`` in its own
transaction; a listener thread turns them into wake-ups (:attr:`~PostgresStore.changes`)
and into :attr:`~PostgresStore.remote_events`. It LISTENs only while something waits for
a change or follows other processes' events (and a few seconds after): a process that
only enqueues, or a worker busy with a backlog, is spared every NOTIFY's wake-up.

:meth:`~PostgresStore.stats` reads counts the statements keep (migration 0004): each
statement that adds, moves or deletes jobs appends its net count changes, which
workers' lease recovery (every :data:`FOLD_EVERY` s) and ``stats`` fold into a row per
queue and status.

``enqueue(records, connection=conn)`` inserts through the application's own psycopg
connection (``Connection`` or ``AsyncConnection``), inside its open transaction: the jobs
exist, and their ``job:added`` is delivered, if and only if that transaction commits.

:class:`PostgresStore` is built in layers: :mod:`._plumbing` has its pools, statement
paths and listener, :mod:`._coordination` its :class:`~conveyor.stores.base.Coordination`
(slots, starts, workers, schedules), and this module the jobs.

URL options: ``schema`` (default ``conveyor``), ``migrate`` (``true``/``false``, default
true) and ``pool_size`` (connections per event loop, default 10); any other query
parameter goes to libpq (``sslmode``, ``connect_timeout`` (default 5), ...).
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Sequence
from typing import Any, NoReturn

import psycopg

from ...clock import Clock
from ...errors import ConfigurationError
from ...job import JobStatus, QueueStats
from .._coalesce import Coalescer
from ..channel import ANONYMOUS_ORIGIN
from ..loops import PerLoop
from ..records import Capabilities, JobMatch, JobRecord, Outcome, Renewal
from ..signals import ClaimsAfterWaking
from . import queries
from ._codec import Params, outcome_params, record_params, to_record
from ._coordination import PostgresCoordination
from .schema import Migration, migrate

__all__ = ["Migration", "PostgresStore", "migrate"]

_CLAIMS_KEPT = 256
"""Claim statements kept at most (a worker needs a few: see queries.claim_for)."""
FOLD_EVERY = 2.0
"""Seconds between two folds of the count changes by a worker's lease recovery."""


class PostgresStore(PostgresCoordination, ClaimsAfterWaking):
    """The PostgreSQL store; see the module docstring."""

    capabilities = Capabilities(
        cross_process=True, cross_process_events=True, transactional_enqueue=True
    )

    def __init__(self, url: str, clock: Clock | None = None) -> None:
        super().__init__(url, clock)
        self._claims: dict[tuple[tuple[str, ...], int], bytes] = {}
        """Claim statements by :func:`.queries.claim_key`."""
        self._settlers = PerLoop(lambda: Coalescer(self._settle_batch))
        self._fold_lock = {"lock": zlib.crc32(f"conveyor-counts:{self._settings.schema}".encode())}
        self._folded_at = 0.0

    def __repr__(self) -> str:
        return f"<PostgresStore {self.url}>"

    # -- jobs --------------------------------------------------------------------------

    async def enqueue(self, records: Sequence[JobRecord], connection: Any = None) -> None:
        """Insert ``records`` in one statement (through ``connection`` if given)."""
        if not records:
            return
        # The application commits a transactional enqueue, so this process emits no
        # job:added for it: the anonymous origin lets the NOTIFY reach it here too.
        origin = self.remote_events.origin if connection is None else ANONYMOUS_ORIGIN
        query, params = self._enqueue_statement(records, origin)
        if connection is None:
            await self._fetch(query, params)
            self.changes.fire()
            return
        await self.open()  # the schema must exist before the application's transaction
        await _enqueue_on(connection, query, params)

    def enqueue_here(self, records: Sequence[JobRecord]) -> bool:
        """Insert ``records`` as :meth:`enqueue` does, on the calling thread, blocking.

        False, having done nothing, where the event loop must: the store was closed
        meanwhile, or ``pool_size`` calling threads are inserting already.
        """
        # A second enqueue path, kept for speed: bench/shortcuts.py blocking-enqueue-pg
        # (queue.sync.enqueue on PostgreSQL +49 to +76 %).
        if not records:
            return True
        if not self._fetch_here(*self._enqueue_statement(records, self.remote_events.origin)):
            return False
        self.changes.fire()
        return True

    def _enqueue_statement(self, records: Sequence[JobRecord], origin: str) -> tuple[bytes, Params]:
        """Return the statement that inserts new jobs ``records``, and its parameters."""
        params = {"channel": self._settings.channel, **record_params(records, origin)}
        return self._insert_for(records), params

    async def enqueue_unique(self, record: JobRecord, connection: Any = None) -> str:
        """Insert ``record`` unless a job of its queue holds its key (advisory-locked)."""
        origin = self.remote_events.origin if connection is None else ANONYMOUS_ORIGIN
        params = {"channel": self._settings.channel, **record_params([record], origin)}
        steps = (self._q.lock_key, self._q.key_holder, self._q.enqueue_one)
        if connection is not None:
            await self.open()
            return await _enqueue_unique_on(connection, steps, params)
        async with self._transaction() as conn:
            holder = await _enqueue_unique_async(conn, steps, params)
        if holder == record.id:
            self.changes.fire()
        return holder

    async def age_jobs(self, queue: str, before: float, limit: int) -> int:
        """Raise long-waiting pending jobs one priority level."""
        params = {"queue": queue, "before": before, "limit": limit}
        return int((await self._fetch(self._q.age_jobs, params))[0][0])

    async def claim(
        self, queues: Sequence[str], limit: int, worker_id: str, lease: float
    ) -> list[JobRecord]:
        """Claim up to ``limit`` ready jobs in one statement."""
        if limit <= 0 or not queues:
            return []
        key = queries.claim_key(queues, limit)
        statement = self._claims.get(key)
        if statement is None:
            if len(self._claims) >= _CLAIMS_KEPT:
                self._claims.clear()
            statement = self._claims[key] = queries.claim_for(self._q.claim, queues, limit)
        params = {**self._publish, "limit": limit, "worker": worker_id, "lease": float(lease)}
        return [to_record(row) for row in await self._fetch(statement, params)]

    async def renew(self, job_ids: Sequence[str], worker_id: str, lease: float) -> Renewal:
        """Extend the leases ``worker_id`` still holds."""
        if not job_ids:
            return Renewal()
        params = {**self._publish, "ids": list(job_ids), "worker": worker_id,
                  "lease": float(lease)}  # fmt: skip
        rows = await self._fetch(self._q.renew, params)
        return Renewal(
            lost=frozenset(set(job_ids) - {job_id for job_id, _ in rows}),
            cancel_requested=frozenset(job_id for job_id, flag in rows if flag),
        )

    async def settle(self, outcomes: Sequence[Outcome]) -> list[bool]:
        """Apply outcomes, each only if its worker still owns it.

        Settles made while another is running go together in the next statement.
        """
        if not outcomes:
            return []
        return await self._settlers.get().submit(outcomes)

    async def _settle_batch(self, outcomes: list[Outcome]) -> list[bool]:
        rows = await self._fetch(self._q.settle, {**self._publish, **outcome_params(outcomes)})
        applied = {job_id for (job_id,) in rows}
        if applied:
            self.changes.fire()
        return [outcome.job_id in applied for outcome in outcomes]

    async def recover_expired(self) -> list[str]:
        """Requeue (or fail, when out of attempts) jobs whose lease ran out."""
        rows = await self._fetch(self._q.recover_expired, self._publish)
        if rows:
            self.changes.fire()
        if time.monotonic() - self._folded_at >= FOLD_EVERY:
            await self._fold_counts()
        return [job_id for (job_id,) in rows]

    async def cancel(self, job_id: str) -> JobStatus | None:
        """Cancel a waiting job, or flag a running one for its worker."""
        rows = await self._fetch(self._q.cancel, {**self._publish, "id": job_id})
        if not rows:
            return None
        status = JobStatus(rows[0][0])
        if status is JobStatus.CANCELLED:
            self.changes.fire()
        return status

    async def retry(self, job_id: str) -> bool:
        """Send a failed or cancelled job back to pending with fresh attempts."""
        rows = await self._fetch(self._q.retry, {**self._publish, "id": job_id})
        if rows:
            self.changes.fire()
        return bool(rows)

    async def set_progress(
        self, job_id: str, worker_id: str, percent: float, message: str | None
    ) -> bool:
        """Record progress of a job ``worker_id`` holds."""
        params = {**self._publish, "id": job_id, "worker": worker_id,
                  "percent": float(percent), "message": message}  # fmt: skip
        return bool(await self._fetch(self._q.set_progress, params))

    async def get(self, job_id: str) -> JobRecord | None:
        """Return one job."""
        rows = await self._fetch(self._q.get, {"id": job_id})
        return to_record(rows[0]) if rows else None

    async def list_jobs(
        self, queue: str, status: JobStatus, limit: int, offset: int
    ) -> list[JobRecord]:
        """Return a queue's jobs in one status, oldest first."""
        params = {"queue": queue, "status": status.value, "limit": limit, "offset": offset}
        return [to_record(row) for row in await self._fetch(self._q.list_jobs, params)]

    async def stats(self, queue: str) -> QueueStats:
        """Return a queue's job counts per status, as the store keeps them."""
        await self._fold_counts()
        rows = await self._fetch(self._q.stats, {"queue": queue})
        return QueueStats(**{status: count for status, count in rows})

    async def _fold_counts(self) -> None:
        """Move the count changes statements appended into the counts (see 0004)."""
        self._folded_at = time.monotonic()
        await self._fetch(self._q.fold_counts, self._fold_lock)

    async def clear_completed(self, queue: str) -> int:
        """Delete a queue's completed jobs."""
        rows = await self._fetch(self._q.clear_completed, {"queue": queue})
        return int(rows[0][0])

    async def next_due(self, queues: Sequence[str]) -> float | None:
        """Return the earliest time a scheduled job of ``queues`` becomes ready."""
        rows = await self._fetch(self._q.next_due, {"queues": list(queues)})
        return rows[0][0] if rows else None

    # -- bulk steering -------------------------------------------------------------------

    async def count_jobs(self, match: JobMatch) -> int:
        """Count the jobs ``match`` takes."""
        return int((await self._fetch(self._q.count_matching, _match_params(match)))[0][0])

    async def delete_jobs(self, match: JobMatch, limit: int) -> int:
        """Delete the oldest ``limit`` jobs ``match`` takes (never running ones)."""
        return await self._change_matching(self._q.delete_matching, match, limit)

    async def retry_jobs(self, match: JobMatch, limit: int) -> int:
        """Send the oldest ``limit`` failed or cancelled jobs ``match`` takes back to pending."""
        return await self._change_matching(self._q.retry_matching, match, limit)

    async def cancel_jobs(self, match: JobMatch, limit: int) -> int:
        """Cancel the oldest ``limit`` waiting jobs ``match`` takes."""
        return await self._change_matching(self._q.cancel_matching, match, limit)

    async def _change_matching(self, statement: bytes, match: JobMatch, limit: int) -> int:
        params = {**self._publish, **_match_params(match), "limit": limit}
        changed = int((await self._fetch(statement, params))[0][0])
        if changed:
            self.changes.fire()
        return changed

    async def delete_job(self, job_id: str) -> bool:
        """Delete one job unless it is running."""
        return bool(await self._fetch(self._q.delete_job, {"id": job_id}))


def _match_params(match: JobMatch) -> Params:
    return {
        "queue": match.queue, "status": match.status.value, "name": match.name,
        "skip_names": list(match.skip_names), "before": match.before,
    }  # fmt: skip


async def _enqueue_unique_async(conn: Any, steps: tuple[bytes, ...], params: Params) -> str:
    """Lock the key, look for its holder, insert if none; return the holder's id."""
    lock, find, insert = steps
    await conn.execute(lock, params)
    holder = await (await conn.execute(find, params)).fetchone()
    if holder is not None:
        return str(holder[0])
    await conn.execute(insert, params)
    return str(params["id"])


def _enqueue_unique_blocking(conn: Any, steps: tuple[bytes, ...], params: Params) -> str:
    """:func:`_enqueue_unique_async` on a blocking connection."""
    lock, find, insert = steps
    conn.execute(lock, params)
    holder = conn.execute(find, params).fetchone()
    if holder is not None:
        return str(holder[0])
    conn.execute(insert, params)
    return str(params["id"])


async def _enqueue_unique_on(connection: object, steps: tuple[bytes, ...], params: Params) -> str:
    """Enqueue a keyed job on the application's connection, in its transaction."""
    if isinstance(connection, psycopg.AsyncConnection):
        return await _enqueue_unique_async(connection, steps, params)
    if isinstance(connection, psycopg.Connection):
        return await asyncio.to_thread(_enqueue_unique_blocking, connection, steps, params)
    return _refuse(connection)


async def _enqueue_on(connection: object, query: bytes, params: Params) -> None:
    """Run the enqueue statement on the application's connection, in its transaction."""
    if isinstance(connection, psycopg.AsyncConnection):
        await connection.execute(query, params)
    elif isinstance(connection, psycopg.Connection):
        # A blocking connection: its statement must not hold up the event loop.
        await asyncio.to_thread(connection.execute, query, params)
    else:
        _refuse(connection)


def _refuse(connection: object) -> NoReturn:
    kind = type(connection)
    raise ConfigurationError(
        "enqueue(connection=...) takes the application's psycopg Connection or"
        f" AsyncConnection, inside its transaction; got {kind.__module__}.{kind.__qualname__}"
    )
