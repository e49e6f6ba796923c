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

URL options: ``schema`` (default ``conveyor``), ``migrate`` (``true``/``false``, default
true) and ``pool_size`` (connections per event loop, default 10); any other query
parameter goes to libpq (``sslmode``, ``connect_timeout`` (default 5), ...).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import zlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, NoReturn

import psycopg

from ... import events
from ...clock import Clock, ServerClock
from ...errors import ConfigurationError, ConveyorError
from ...job import JobStatus, QueueStats
from .._coalesce import Coalescer
from ..base import NoWritesHere
from ..channel import ANONYMOUS_ORIGIN, RemoteEvents, RemoteListener, decode_events
from ..loops import PerLoop
from ..records import Capabilities, JobMatch, JobRecord, Outcome, Renewal, ScheduleRecord
from ..signals import ChangeSignal, ClaimsAfterWaking
from . import queries
from ._codec import Params, outcome_params, record_params, to_record
from ._listener import Listener
from ._pools import LoopPools
from ._url import parse_url
from .schema import Migration, check_and_migrate, connect, migrate

__all__ = ["Migration", "PostgresStore", "migrate"]

log = logging.getLogger("conveyor.stores.postgres")

# Events that wake nobody: they neither make work ready nor finish a job.
_QUIET = frozenset({events.JOB_STARTED, events.JOB_PROGRESS})
_CLAIMS_KEPT = 256
"""Claim statements kept at most (a worker needs a few: see queries.claim_for)."""
FOLD_EVERY = 2.0
"""Seconds between two folds of the count changes by a worker's lease recovery."""
# What a statement fails with when the schema was dropped under a running store.
_SCHEMA_GONE = (
    psycopg.errors.UndefinedTable,
    psycopg.errors.UndefinedFunction,
    psycopg.errors.InvalidSchemaName,
)


class PostgresStore(NoWritesHere, ClaimsAfterWaking):
    """The PostgreSQL store; see the module docstring."""

    capabilities = Capabilities(
        cross_process=True, cross_process_events=True, transactional_enqueue=True
    )

    def __init__(self, url: str, clock: Clock | None = None) -> None:
        self._settings = parse_url(url)
        self.url = self._settings.masked
        server_clock = ServerClock()
        self._server_clock = server_clock if clock is None else None
        """Calibrated by the listener; ``None`` when a clock was given."""
        self.clock: Clock = clock or server_clock
        self.changes = ChangeSignal()
        self.changes.on_first_waiter = _Callback(self._want_listening)
        self.remote_events: RemoteEvents = _RemoteEvents(
            lambda: self._want_listening(_SUBSCRIBE_WAIT)
        )
        # This process's own events, as encode_events and publish() (since migration 0010,
        # which this code requires) spell them: the listener drops them unread (their
        # changes were fired where they were made).
        self._own = f'{{"o":"{self.remote_events.origin}"'
        self._q = queries.for_schema(self._settings.schema)
        self._publish = {"channel": self._settings.channel, "origin": self.remote_events.origin}
        self._claims: dict[tuple[tuple[str, ...], int], bytes] = {}
        """Claim statements by :func:`.queries.claim_key`."""
        self._pools = LoopPools(self._settings)
        self._settlers: PerLoop[Coalescer[Outcome, bool]] = PerLoop(
            lambda: Coalescer(self._settle_batch)
        )
        self._lock = threading.Lock()
        self._listener: Listener | None = None
        self._opened = False
        self._fold_lock = {"lock": zlib.crc32(f"conveyor-counts:{self._settings.schema}".encode())}
        self._folded_at = 0.0

    def __repr__(self) -> str:
        return f"<PostgresStore {self.url}>"

    # -- life cycle --------------------------------------------------------------------

    async def open(self) -> None:
        """Connect, migrate (or check) the schema and start listening; idempotent."""
        if self._opened:
            return
        with self._lock:
            listener = self._listener
            if listener is None:
                listener = self._listener = Listener(
                    self._settings,
                    clock=self._server_clock,
                    on_message=self._on_message,
                    on_reconnect=self.changes.fire,
                    wanted=self._listening_wanted,
                )
        try:
            await asyncio.wrap_future(listener.ready)
        except ConveyorError:
            with self._lock:
                failed = self._listener is listener
                if failed:
                    self._listener = None
            if failed:
                await asyncio.to_thread(listener.stop)
            raise
        self._opened = True

    async def close(self) -> None:
        """Stop listening and close every connection; the store can be opened again."""
        with self._lock:
            listener, self._listener = self._listener, None
            self._opened = False
        if listener is not None:
            await asyncio.to_thread(listener.stop)
        self._settlers.take_all()
        await self._pools.close()

    def _listening_wanted(self) -> bool:
        return self.changes.has_waiters or self.remote_events.has_listeners

    def _want_listening(self, wait: float = 0.0) -> None:
        listener = self._listener
        if listener is not None:
            listener.want(wait)

    def _on_message(self, payload: str) -> None:
        """Wake waiters and pass on other processes' events (on the listener thread)."""
        if payload.startswith(self._own):
            return
        try:
            origin, batch = decode_events(payload)
        except ValueError as exc:
            log.warning("ignored a notification on %s: %s", self._settings.channel, exc)
            return
        if any(event.event not in _QUIET for event in batch):
            self.changes.fire()
        self.remote_events.deliver(origin, batch)

    async def _fetch(self, query: bytes, params: Params) -> list[tuple[Any, ...]]:
        if not self._opened:
            await self.open()
        for last_try in (False, True):
            try:
                async with self._pools.connection() as conn:
                    cursor = await conn.execute(query, params, binary=True)
                    return await cursor.fetchall()
            except psycopg.Error as exc:
                # A statement on a missing table had no effect: once it is back, run it again.
                if last_try or not await self._recreated_schema(exc):
                    raise self._failed(exc) from None
        raise AssertionError("unreachable")

    async def _recreated_schema(self, exc: psycopg.Error) -> bool:
        """If ``exc`` says the schema was dropped, create it again; say if that was done.

        Only with migrating allowed (the default), as a new process would on open.
        """
        if not isinstance(exc, _SCHEMA_GONE) or not self._settings.migrate:
            return False
        settings = self._settings

        def recreate() -> bool:
            with connect(settings) as conn:
                return bool(check_and_migrate(conn, settings.schema, allowed=True))

        try:
            recreated = await asyncio.to_thread(recreate)
        except (ConveyorError, psycopg.Error):
            return False
        if recreated:
            log.warning("schema %s was dropped while in use: created it again", settings.schema)
        return recreated

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """Lend a pooled connection inside one transaction; driver errors become ours."""
        if not self._opened:
            await self.open()
        try:
            async with self._pools.connection() as conn, conn.transaction():
                yield conn
        except psycopg.Error as exc:
            await self._recreated_schema(exc)  # for the next call: this one raises
            raise self._failed(exc) from None

    def _failed(self, exc: psycopg.Error) -> ConveyorError:
        """Return the error to raise for a driver error (a broken pool is checked soon).

        A server that refuses to write (``25006``: a standby, or a primary that a
        failover demoted) has every connection replaced, the listener's too.
        """
        if isinstance(exc, psycopg.OperationalError):
            self._pools.check_soon()
        elif isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
            self._pools.reconnect_soon()
            if (listener := self._listener) is not None:
                listener.reconnect()
        return self._settings.unavailable(exc)

    # -- jobs --------------------------------------------------------------------------

    async def enqueue(self, records: Sequence[JobRecord], connection: Any = None) -> None:
        """Insert ``records`` in one statement (through ``connection`` if given)."""
        if not records:
            return
        query = self._insert_for(records)
        # The application commits a transactional enqueue, so this process emits no
        # job:added for it: the anonymous origin lets the NOTIFY reach it here too.
        origin = self.remote_events.origin if connection is None else ANONYMOUS_ORIGIN
        params = {"channel": self._settings.channel, **record_params(records, origin)}
        if connection is None:
            await self._fetch(query, params)
            self.changes.fire()
            return
        await self.open()  # the schema must exist before the application's transaction
        await _enqueue_on(connection, query, params)

    def _insert_for(self, records: Sequence[JobRecord]) -> bytes:
        """Return the statement that stores new jobs ``records`` (parameters: record_params)."""
        return self._q.enqueue_one if len(records) == 1 else self._q.enqueue_many

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

    async def acquire_slot(self, bucket: str, limit: int, holder: str, ttl: float) -> bool:
        """Take or renew a slot of ``bucket``, under a transaction-scoped advisory lock."""
        params = {"bucket": bucket, "holder": holder, "limit": limit, "ttl": float(ttl)}
        async with self._transaction() as conn:
            await conn.execute(self._q.lock_slots, params)
            row = await (await conn.execute(self._q.acquire_slot, params)).fetchone()
        return bool(row and row[0])

    async def release_slot(self, bucket: str, holder: str) -> None:
        """Give back a slot."""
        await self._fetch(self._q.release_slot, {"bucket": bucket, "holder": holder})

    async def age_jobs(self, queue: str, before: float, limit: int) -> int:
        """Raise long-waiting pending jobs one priority level."""
        params = {"queue": queue, "before": before, "limit": limit}
        return int((await self._fetch(self._q.age_jobs, params))[0][0])

    async def take_start(self, bucket: str, interval: float) -> float:
        """Take a start of ``bucket`` if one is due (one statement, on the server's clock)."""
        rows = await self._fetch(self._q.take_start, {"bucket": bucket, "interval": interval})
        # Not taken and no row seen: another statement took it meanwhile; look again soon.
        return float(rows[0][0]) if rows else 0.001

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

    # -- workers -------------------------------------------------------------------------

    async def beat_worker(self, worker_id: str, info: str, ttl: float) -> None:
        """Keep the worker's info until ``ttl`` seconds from now (expired ones go)."""
        params = {"worker_id": worker_id, "info": info, "ttl": float(ttl)}
        await self._fetch(self._q.beat_worker, params)

    async def list_workers(self) -> list[str]:
        """Return the info of workers whose last beat has not expired."""
        return [row[0] for row in await self._fetch(self._q.list_workers, {})]

    async def forget_worker(self, worker_id: str) -> None:
        """Forget a worker."""
        await self._fetch(self._q.forget_worker, {"worker_id": worker_id})

    # -- recurring schedules -----------------------------------------------------------

    async def save_schedules(self, records: Sequence[ScheduleRecord]) -> list[ScheduleRecord]:
        """Store new schedules and refresh known ones, in one statement."""
        if not records:
            return []
        params = {
            "queue": [r.queue for r in records], "key": [r.key for r in records],
            "spec": [r.spec for r in records], "last_tick": [r.last_tick for r in records],
            "next_tick": [r.next_tick for r in records],
            "seen_at": [float(r.seen_at) for r in records],
        }  # fmt: skip
        return [ScheduleRecord(*row) for row in await self._fetch(self._q.save_schedules, params)]

    async def fire_schedule(
        self,
        queue: str,
        key: str,
        expected_tick: int,
        tick: int,
        next_tick: int | None,
        records: Sequence[JobRecord],
    ) -> bool:
        """Move the schedule on and insert the tick's jobs in one transaction, or do nothing."""
        move = {
            "queue": queue, "key": key, "expected": expected_tick, "tick": tick,
            "next_tick": next_tick, "job_id": records[-1].id if records else None,
        }  # fmt: skip
        insert = self._insert_for(records)
        added = {
            "channel": self._settings.channel,
            **record_params(records, self.remote_events.origin),
        }
        async with self._transaction() as conn:
            moved = await (await conn.execute(self._q.move_schedule, move)).fetchall()
            if moved and records:
                await conn.execute(insert, added, binary=True)
        if moved and records:
            self.changes.fire()
        return bool(moved)

    async def list_schedules(self, queue: str) -> list[ScheduleRecord]:
        """Return the queue's schedules, by key."""
        rows = await self._fetch(self._q.list_schedules, {"queue": queue})
        return [ScheduleRecord(*row) for row in rows]

    async def pause_schedule(self, queue: str, key: str, paused: bool, now_tick: int) -> bool:
        """Pause or resume a schedule; resuming passes over the ticks missed meanwhile."""
        params = {"queue": queue, "key": key, "paused": paused, "now_tick": now_tick}
        return bool(await self._fetch(self._q.pause_schedule, params))

    async def remove_schedules(self, queue: str, keys: Sequence[str]) -> int:
        """Delete schedules (their jobs stay)."""
        rows = await self._fetch(self._q.remove_schedules, {"queue": queue, "keys": list(keys)})
        return int(rows[0][0])


def _match_params(match: JobMatch) -> Params:
    return {
        "queue": match.queue, "status": match.status.value, "name": match.name,
        "skip_names": list(match.skip_names), "before": match.before,
    }  # fmt: skip


_SUBSCRIBE_WAIT = 0.25
"""Seconds ``remote_events.subscribe`` waits for the listener to LISTEN."""


class _Callback(threading.Event):
    """The ``on_first_waiter`` of :attr:`PostgresStore.changes`: its ``set()`` calls ``callback``.

    Every ``changes.wait`` sets it once its waiter is registered: the listener then starts
    listening if it does not (and fires the signal once it does).
    """

    def __init__(self, callback: Callable[[], None]) -> None:
        super().__init__()
        self._callback = callback

    def set(self) -> None:
        """Call the callback (the event itself stays clear)."""
        self._callback()


class _RemoteEvents(RemoteEvents):
    """:class:`RemoteEvents` that has the listener start listening on ``subscribe``."""

    def __init__(self, on_subscribe: Callable[[], None]) -> None:
        super().__init__()
        self._on_subscribe = on_subscribe

    def subscribe(self, listener: RemoteListener) -> None:
        """Call ``listener(event)`` for every event another process publishes."""
        super().subscribe(listener)
        self._on_subscribe()


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
