"""``sqlite:///path/to/file.db``: the embedded default store.

One file in WAL mode, shared safely by every process on the machine. Each process has
one writer thread that commits everything queued at once in one transaction (group
commit), a reader thread for queries, and a watcher that notices other processes'
commits through ``PRAGMA data_version`` while a worker waits for work: at once when
the committing process rings its doorbell (:mod:`._wake`), else at its next poll.

URL options: ``?durability=full`` (default: a returned enqueue survives a power cut) or
``?durability=normal`` (commits are not synced to disk one by one: a power cut or OS
crash may lose the last moments of work; a killed process loses nothing), and
``?busy_timeout=60`` (seconds to wait out another process's write lock).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qs, urlsplit

from ...clock import Clock, SystemClock
from ...errors import BackendUnavailableError, ConfigurationError, IncompatibleStoreError
from ...job import JobStatus, QueueStats
from ..base import refuse_connection
from ..channel import RemoteEvents
from ..records import Capabilities, JobMatch, JobRecord, Outcome, Renewal, ScheduleRecord, next_due
from ..signals import ChangeSignal, ClaimsAfterWaking
from . import queries as q
from ._connection import (
    BUSY,
    BulkInsert,
    ConnectionThread,
    Operation,
    file_identity,
    retry_while_busy,
)
from ._wake import Doorbell, Ringer, wake_folder
from .schema import check_and_migrate

T = TypeVar("T")
_SQLITE_HEADER = b"SQLite format 3\x00"
# How often the watcher polls data_version, by seconds since the last change it saw:
# fast while work flows, slower the longer the store stays idle (CPU vs. latency).
_WATCH_TIERS = ((0.1, 0.001), (1.0, 0.002), (10.0, 0.005))
_WATCH_SLOWEST = 0.010
_WATCH_WITH_DOORBELL = 0.05
"""The poll of a watcher with a doorbell: for commits of processes that do not ring it."""


def _watch_interval(idle: float) -> float:
    for within, interval in _WATCH_TIERS:
        if idle < within:
            return interval
    return _WATCH_SLOWEST


class SQLiteStore(ClaimsAfterWaking):
    """The embedded SQLite store; see the module docstring."""

    capabilities = Capabilities(cross_process=True, cross_process_events=False)

    def __init__(self, url: str, clock: Clock | None = None) -> None:
        self.url = url
        self.clock: Clock = clock or SystemClock()
        self.changes = ChangeSignal()
        self.remote_events = RemoteEvents()
        self.changes.on_first_waiter = threading.Event()
        self.path, self._durable_sync, self._busy_timeout = _parse_url(url)
        _check_path(self.path)
        self._lock = threading.Lock()
        self._writer: ConnectionThread | None = None
        self._reader: ConnectionThread | None = None
        self._watcher: threading.Thread | None = None
        self._closing = threading.Event()
        self._ringer = Ringer(wake_folder(self.path))

    # -- life cycle --------------------------------------------------------------------

    async def open(self) -> None:
        """Open (creating and migrating if needed) the database file."""
        with self._lock:
            if self._writer is not None:
                return
            self._closing.clear()
            self._writer = self._thread("writer", writer=True)
            self._reader = self._thread("reader", writer=False)
        try:
            await self._writer.run(_touch, durable=False)
        except BaseException:
            await self.close()
            raise
        self._watcher = threading.Thread(
            target=self._watch, name="conveyor-sqlite-watcher", daemon=True
        )
        self._watcher.start()

    async def close(self) -> None:
        """Stop the threads and close the connections."""
        with self._lock:
            writer, reader, watcher = self._writer, self._reader, self._watcher
            self._writer = self._reader = self._watcher = None
        self._closing.set()
        if self.changes.on_first_waiter is not None:
            self.changes.on_first_waiter.set()
        self._ringer.ring_own()
        for thread in (writer, reader):
            if thread is not None:
                thread.stop()
        if watcher is not None:
            watcher.join()
        self._ringer.close()

    def _thread(self, role: str, *, writer: bool) -> ConnectionThread:
        return ConnectionThread(
            f"conveyor-sqlite-{role}",
            self._connect_and_migrate if writer else self._connect,
            writer=writer,
            durable_sync=self._durable_sync,
            busy_timeout=self._busy_timeout,
            on_commit=self.changes.fire if writer else None,
            after_commit=self._ringer.ring if writer else None,
            path=self.path,
        )

    def _connect(self) -> sqlite3.Connection:
        # Switching a new file to WAL needs a lock that the busy handler does not wait
        # for; several processes opening one new file at once must retry here.
        def open_in_wal_mode() -> sqlite3.Connection:
            conn = sqlite3.connect(
                self.path,
                timeout=min(self._busy_timeout, 5.0),
                isolation_level=None,
                check_same_thread=False,
            )
            try:
                conn.execute("PRAGMA journal_mode = WAL")
            except BaseException:
                conn.close()
                raise
            return conn

        try:
            conn = retry_while_busy(open_in_wal_mode, self._busy_timeout, self.path)
        except sqlite3.DatabaseError as exc:
            if "not a database" in str(exc):
                raise IncompatibleStoreError(f"{self.path} is not a SQLite database") from None
            raise BackendUnavailableError(f"cannot open {self.path}: {exc}") from None
        conn.execute(f"PRAGMA busy_timeout = {int(min(self._busy_timeout, 5.0) * 1000)}")
        return conn

    def _connect_and_migrate(self) -> sqlite3.Connection:
        conn = self._connect()
        try:
            check_and_migrate(conn, self.path)
        except BaseException:
            conn.close()
            raise
        return conn

    def _watch(self) -> None:
        """Fire ``changes`` when another connection commits, while anybody waits."""
        wake = self.changes.on_first_waiter
        assert wake is not None
        conn: sqlite3.Connection | None = None
        doorbell: Doorbell | None = None
        opened: object = None
        last, last_change = -1, time.monotonic()
        try:
            while not self._closing.is_set():
                if not self.changes.has_waiters:
                    wake.wait(0.5)
                    wake.clear()
                    continue
                if conn is not None and file_identity(self.path) != opened:
                    conn.close()  # the file was replaced: watch the new one
                    conn, last = None, -1
                if conn is None:
                    conn = sqlite3.connect(self.path, isolation_level=None)
                    opened = file_identity(self.path)
                    doorbell = self._new_doorbell(doorbell)
                version = conn.execute("PRAGMA data_version").fetchone()[0]
                if version != last:
                    # A first reading fires too: a commit made after the waiter looked
                    # at the store, but before this reading, is already in it.
                    self.changes.fire()
                    last, last_change = version, time.monotonic()
                if doorbell is not None:
                    doorbell.wait(_WATCH_WITH_DOORBELL)
                else:
                    self._closing.wait(_watch_interval(time.monotonic() - last_change))
        except sqlite3.Error:
            return
        finally:
            if conn is not None:
                conn.close()
            self._close_doorbell(doorbell)

    def _new_doorbell(self, old: Doorbell | None) -> Doorbell | None:
        """Close the watcher's doorbell, if any, and bind a new one (the folder may be new)."""
        self._close_doorbell(old)
        doorbell = Doorbell.bind(wake_folder(self.path))
        if doorbell is not None:
            self._ringer.own.add(doorbell.path)
        return doorbell

    def _close_doorbell(self, doorbell: Doorbell | None) -> None:
        if doorbell is not None:
            self._ringer.own.discard(doorbell.path)
            doorbell.close()

    async def _write(self, operation: Operation[T], *, durable: bool = True) -> T:
        if self._writer is None:
            await self.open()
        assert self._writer is not None
        return await self._writer.run(operation, durable=durable)

    async def _read(self, operation: Operation[T]) -> T:
        if self._reader is None:
            await self.open()
        assert self._reader is not None
        return await self._reader.run(operation)

    # -- jobs --------------------------------------------------------------------------

    async def enqueue(self, records: Sequence[JobRecord], connection: object = None) -> None:
        """Insert ``records`` in one transaction."""
        refuse_connection(connection, self.url)
        # A BulkInsert returns nothing: a cursor handed to another thread would reset
        # the writer's cached statement while it may be running the next batch.
        await self._write(BulkInsert(*_new_rows(records), _count_added))

    @property
    def writes_here(self) -> bool:
        """True once the store is open: :meth:`enqueue_here` then works."""
        return self._writer is not None

    def enqueue_here(self, records: Sequence[JobRecord]) -> bool:
        """Insert ``records`` in one transaction on the calling thread, blocking.

        False, having done nothing, while the writer's connection is in use.
        """
        writer = self._writer
        if writer is None:
            raise BackendUnavailableError(f"the SQLite store {self.url} is not open")
        operation = BulkInsert(*_new_rows(records), _count_added)
        return writer.run_here(operation, durable=True) is not BUSY

    async def enqueue_unique(self, record: JobRecord, connection: object = None) -> str:
        """Insert ``record`` unless a job of its queue holds its key (one transaction)."""
        refuse_connection(connection, self.url)
        insert, rows = _new_rows([record])
        key = (record.queue, record.unique_key, self.clock.now())

        def operation(conn: sqlite3.Connection) -> str:
            holder = conn.execute(q.KEY_HOLDER, key).fetchone()
            if holder is not None:
                return str(holder[0])
            conn.executemany(insert, rows)
            _count_added(conn, rows)
            return record.id

        return await self._write(operation)

    async def acquire_slot(self, bucket: str, limit: int, holder: str, ttl: float) -> bool:
        """Take or renew a slot of ``bucket`` in one write transaction."""
        now = self.clock.now()

        def operation(conn: sqlite3.Connection) -> bool:
            conn.execute(q.SLOTS_EXPIRE, (bucket, now))
            if conn.execute(q.SLOT_RENEW, (now + ttl, bucket, holder)).rowcount:
                return True
            if conn.execute(q.SLOTS_HELD, (bucket,)).fetchone()[0] >= limit:
                return False
            conn.execute(q.SLOT_TAKE, (bucket, holder, now + ttl))
            return True

        return await self._write(operation, durable=False)

    async def release_slot(self, bucket: str, holder: str) -> None:
        """Give back a slot."""
        await self._write(lambda c: c.execute(q.SLOT_RELEASE, (bucket, holder)), durable=False)

    async def age_jobs(self, queue: str, before: float, limit: int) -> int:
        """Raise long-waiting pending jobs one priority level (one write transaction)."""
        params = {"queue": queue, "before": before, "limit": limit, "now": self.clock.now()}
        return int(await self._write(lambda c: c.execute(q.AGE, params).rowcount, durable=False))

    async def take_start(self, bucket: str, interval: float) -> float:
        """Take a start of ``bucket`` if one is due (one write transaction)."""
        now = self.clock.now()

        def operation(conn: sqlite3.Connection) -> float:
            row = conn.execute(q.RATE_DUE, (bucket,)).fetchone()
            due = 0.0 if row is None else float(row[0])
            if due > now:
                return due - now
            conn.execute(q.RATE_TAKE, (bucket, next_due(due, now, interval)))
            return 0.0

        return await self._write(operation, durable=False)

    async def claim(
        self, queues: Sequence[str], limit: int, worker_id: str, lease: float
    ) -> list[JobRecord]:
        """Claim up to ``limit`` ready jobs (not synced: a lost claim only reruns a job)."""
        now = self.clock.now()

        def operation(conn: sqlite3.Connection) -> list[JobRecord]:
            heads: list[tuple[int, float, str]] = []
            for queue in queues:
                conn.execute(q.PROMOTE_DUE, (queue, now))
                heads.extend(
                    (-p, run_at, i) for i, p, run_at in conn.execute(q.READY_HEAD, (queue, limit))
                )
            if not heads:
                return []
            ids = [job_id for _, _, job_id in sorted(heads)[:limit]]
            params = {"now": now, "worker": worker_id, "lease": lease, "ids": json.dumps(ids)}
            records = [_record(row) for row in conn.execute(q.CLAIM, params)]
            records.sort(key=lambda r: (-r.priority, r.run_at, r.id))
            return records

        return await self._write(operation, durable=False)

    async def renew(self, job_ids: Sequence[str], worker_id: str, lease: float) -> Renewal:
        """Extend the leases ``worker_id`` still holds."""
        params = {
            "now": self.clock.now(),
            "lease": lease,
            "worker": worker_id,
            "ids": json.dumps(list(job_ids)),
        }
        rows = await self._write(lambda c: c.execute(q.RENEW, params).fetchall(), durable=False)
        held = {job_id for job_id, _ in rows}
        return Renewal(
            lost=frozenset(set(job_ids) - held),
            cancel_requested=frozenset(job_id for job_id, flag in rows if flag),
        )

    async def settle(self, outcomes: Sequence[Outcome]) -> list[bool]:
        """Apply outcomes, each only if its worker still owns the attempt."""
        now = self.clock.now()
        params = [_outcome_params(o, now) for o in outcomes]

        def operation(conn: sqlite3.Connection) -> list[bool]:
            return [conn.execute(q.SETTLE, p).rowcount == 1 for p in params]

        # Not synced one by one: a power cut can lose the last outcomes, and those jobs
        # then run again, as at-least-once allows. The next durable commit syncs them.
        return await self._write(operation, durable=False)

    async def recover_expired(self) -> list[str]:
        """Requeue (or fail, when out of attempts) jobs whose lease ran out."""
        now = self.clock.now()
        rows = await self._write(lambda c: c.execute(q.RECOVER_EXPIRED, {"now": now}).fetchall())
        return [row[0] for row in rows]

    async def cancel(self, job_id: str) -> JobStatus | None:
        """Cancel a waiting job, or flag a running one for its worker."""
        params = {"id": job_id, "now": self.clock.now()}

        def operation(conn: sqlite3.Connection) -> JobStatus | None:
            if conn.execute(q.CANCEL_WAITING, params).rowcount:
                return JobStatus.CANCELLED
            if conn.execute(q.REQUEST_CANCEL, params).rowcount:
                return JobStatus.PROCESSING
            return None

        return await self._write(operation)

    async def retry(self, job_id: str) -> bool:
        """Send a failed or cancelled job back to pending with fresh attempts."""
        params = {"id": job_id, "now": self.clock.now()}
        return await self._write(lambda c: c.execute(q.RETRY, params).rowcount == 1)

    async def set_progress(
        self, job_id: str, worker_id: str, percent: float, message: str | None
    ) -> bool:
        """Record progress of a job ``worker_id`` holds."""
        params = {"id": job_id, "worker": worker_id, "percent": percent, "message": message}
        return await self._write(
            lambda c: c.execute(q.SET_PROGRESS, params).rowcount == 1, durable=False
        )

    async def get(self, job_id: str) -> JobRecord | None:
        """Return one job."""
        row = await self._read(lambda c: c.execute(q.GET, (job_id,)).fetchone())
        return None if row is None else _record(row)

    async def list_jobs(
        self, queue: str, status: JobStatus, limit: int, offset: int
    ) -> list[JobRecord]:
        """Return a queue's jobs in one status, oldest first."""
        params = (queue, status.value, limit, offset)
        rows = await self._read(lambda c: c.execute(q.LIST, params).fetchall())
        return [_record(row) for row in rows]

    async def stats(self, queue: str) -> QueueStats:
        """Count a queue's jobs per status."""
        rows = await self._read(lambda c: c.execute(q.STATS, (queue,)).fetchall())
        return QueueStats(**{status: count for status, count in rows})

    async def clear_completed(self, queue: str) -> int:
        """Delete a queue's completed jobs."""
        return await self._write(lambda c: c.execute(q.CLEAR_COMPLETED, (queue,)).rowcount)

    async def next_due(self, queues: Sequence[str]) -> float | None:
        """Return the earliest time a scheduled job of ``queues`` becomes ready."""

        def operation(conn: sqlite3.Connection) -> float | None:
            times = [conn.execute(q.NEXT_DUE, (queue,)).fetchone()[0] for queue in queues]
            return min((t for t in times if t is not None), default=None)

        return await self._read(operation)

    # -- bulk steering -------------------------------------------------------------------

    async def count_jobs(self, match: JobMatch) -> int:
        """Count the jobs ``match`` takes."""
        params = _match_params(match)
        return int(await self._read(lambda c: c.execute(q.COUNT_MATCHING, params).fetchone()[0]))

    async def delete_jobs(self, match: JobMatch, limit: int) -> int:
        """Delete the oldest ``limit`` jobs ``match`` takes (never running ones)."""
        return await self._change_matching(q.DELETE_MATCHING, match, limit)

    async def retry_jobs(self, match: JobMatch, limit: int) -> int:
        """Send the oldest ``limit`` failed or cancelled jobs ``match`` takes back to pending."""
        return await self._change_matching(q.RETRY_MATCHING, match, limit)

    async def cancel_jobs(self, match: JobMatch, limit: int) -> int:
        """Cancel the oldest ``limit`` waiting jobs ``match`` takes."""
        return await self._change_matching(q.CANCEL_MATCHING, match, limit)

    async def _change_matching(self, statement: str, match: JobMatch, limit: int) -> int:
        params = {**_match_params(match), "limit": limit, "now": self.clock.now()}
        return await self._write(lambda c: c.execute(statement, params).rowcount)

    async def delete_job(self, job_id: str) -> bool:
        """Delete one job unless it is running."""
        return await self._write(lambda c: c.execute(q.DELETE_ONE, (job_id,)).rowcount == 1)

    # -- workers -------------------------------------------------------------------------

    async def beat_worker(self, worker_id: str, info: str, ttl: float) -> None:
        """Keep the worker's info until ``ttl`` seconds from now (expired ones go)."""
        now = self.clock.now()

        def operation(conn: sqlite3.Connection) -> None:
            conn.execute(q.FORGET_EXPIRED_WORKERS, (now,))
            conn.execute(q.BEAT_WORKER, (worker_id, info, now + ttl))

        await self._write(operation, durable=False)

    async def list_workers(self) -> list[str]:
        """Return the info of workers whose last beat has not expired."""
        now = self.clock.now()
        rows = await self._read(lambda c: c.execute(q.LIST_WORKERS, (now,)).fetchall())
        return [row[0] for row in rows]

    async def forget_worker(self, worker_id: str) -> None:
        """Forget a worker."""
        await self._write(lambda c: c.execute(q.FORGET_WORKER, (worker_id,)), durable=False)

    # -- recurring schedules -----------------------------------------------------------

    async def save_schedules(self, records: Sequence[ScheduleRecord]) -> list[ScheduleRecord]:
        """Store new schedules and refresh known ones, in one transaction."""
        rows = [_schedule_row(record) for record in records]

        def operation(conn: sqlite3.Connection) -> list[ScheduleRecord]:
            return [_schedule(conn.execute(q.SAVE_SCHEDULE, row).fetchone()) for row in rows]

        return await self._write(operation)

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
        params = {
            "queue": queue, "key": key, "expected": expected_tick, "tick": tick,
            "next_tick": next_tick, "job_id": records[-1].id if records else None,
        }  # fmt: skip
        insert, rows = _new_rows(records)

        def operation(conn: sqlite3.Connection) -> bool:
            if conn.execute(q.FIRE_SCHEDULE, params).rowcount != 1:
                return False
            conn.executemany(insert, rows)
            _count_added(conn, rows)
            return True

        return await self._write(operation)

    async def list_schedules(self, queue: str) -> list[ScheduleRecord]:
        """Return the queue's schedules, by key."""
        rows = await self._read(lambda c: c.execute(q.LIST_SCHEDULES, (queue,)).fetchall())
        return [_schedule(row) for row in rows]

    async def pause_schedule(self, queue: str, key: str, paused: bool, now_tick: int) -> bool:
        """Pause or resume a schedule; resuming passes over the ticks missed meanwhile."""
        params = {"queue": queue, "key": key, "paused": int(paused), "now_tick": now_tick}
        return await self._write(lambda c: c.execute(q.PAUSE_SCHEDULE, params).rowcount == 1)

    async def remove_schedules(self, queue: str, keys: Sequence[str]) -> int:
        """Delete schedules (their jobs stay)."""
        params = {"queue": queue, "keys": json.dumps(list(keys))}
        return await self._write(lambda c: c.execute(q.REMOVE_SCHEDULES, params).rowcount)


def _touch(conn: sqlite3.Connection) -> None:
    """Do nothing: running this operation opens (and migrates) the file."""


def _parse_url(url: str) -> tuple[str, str, float]:
    parts = urlsplit(url)
    if parts.netloc:
        raise ConfigurationError(
            f"SQLite URL {url!r} has a host part; write sqlite:///relative.db or"
            " sqlite:////absolute/path.db"
        )
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    if not path or path == ":memory:":
        raise ConfigurationError(
            f"SQLite URL {url!r} names no file; use memory:// for a store without a file"
        )
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(options) - {"durability", "busy_timeout"}
    if unknown:
        raise ConfigurationError(f"unknown SQLite URL option(s) {sorted(unknown)} in {url!r}")
    durability = options.get("durability", "full").lower()
    if durability not in ("full", "normal"):
        raise ConfigurationError(
            f"durability must be 'full' or 'normal' in {url!r}, got {durability!r}"
        )
    try:
        busy_timeout = float(options.get("busy_timeout", "60"))
    except ValueError:
        busy_timeout = -1.0
    if not busy_timeout > 0:
        raise ConfigurationError(f"busy_timeout must be a positive number of seconds in {url!r}")
    return path, durability.upper(), busy_timeout


def _check_path(path: str) -> None:
    """Fail early, and clearly, on a file conveyor could never use."""
    file = Path(path)
    folder = file.parent
    if not folder.is_dir():
        raise ConfigurationError(
            f"cannot use SQLite file {path}: the folder {folder} does not exist; create it first"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigurationError(
            f"cannot use SQLite file {path}: no write permission in the folder {folder}"
        )
    if not file.exists():
        return
    if file.is_dir():
        raise ConfigurationError(f"cannot use SQLite file {path}: it is a folder")
    if not os.access(file, os.R_OK | os.W_OK):
        raise ConfigurationError(f"cannot use SQLite file {path}: no read and write permission")
    with file.open("rb") as handle:
        header = handle.read(len(_SQLITE_HEADER))
    if header and header != _SQLITE_HEADER:
        raise IncompatibleStoreError(f"{path} is not a SQLite database")


def _new_rows(records: Sequence[JobRecord]) -> tuple[str, Sequence[Sequence[object]]]:
    """Return the INSERT statement and its rows for the new jobs ``records``."""
    rows = [
        (r.id, r.queue, r.name, r.payload, r.status.value, r.priority, r.max_retries,
         r.retry_delay, r.timeout, r.backoff, r.created_at, r.run_at, r.scheduled_at)
        for r in records
    ]  # fmt: skip
    if all(r.headers is None and r.unique_key is None and r.unique_until is None for r in records):
        return q.INSERT_NEW, rows
    tagged = [
        (*row, r.headers, r.unique_key, r.unique_until)
        for row, r in zip(rows, records, strict=True)
    ]
    return q.INSERT_NEW_TAGGED, tagged


def _count_added(conn: sqlite3.Connection, rows: Sequence[Sequence[object]]) -> None:
    """Count new job rows (made by :func:`_new_rows`) into conveyor_counts (see migration 7)."""
    added = Counter((row[1], row[4]) for row in rows)  # (queue, status)
    conn.executemany(q.COUNT_ADDED, [(queue, status, n) for (queue, status), n in added.items()])


def _record(row: Sequence[object]) -> JobRecord:
    record = JobRecord(*row)  # type: ignore[arg-type]
    record.status = JobStatus(record.status)
    record.cancel_requested = bool(record.cancel_requested)
    return record


def _match_params(match: JobMatch) -> dict[str, object]:
    return {
        "queue": match.queue, "status": match.status.value, "name": match.name,
        "skip_names": json.dumps(list(match.skip_names)), "before": match.before,
    }  # fmt: skip


def _schedule_row(r: ScheduleRecord) -> tuple[object, ...]:
    return (r.queue, r.key, r.spec, r.last_tick, r.next_tick, r.seen_at, r.last_job_id,
            int(r.paused))  # fmt: skip


def _schedule(row: Sequence[object]) -> ScheduleRecord:
    record = ScheduleRecord(*row)  # type: ignore[arg-type]
    record.paused = bool(record.paused)
    return record


def _outcome_params(outcome: Outcome, now: float) -> dict[str, object]:
    return {
        "id": outcome.job_id,
        "worker": outcome.worker_id,
        "attempt": outcome.attempt,
        "status": outcome.status.value,
        "result": outcome.result,
        "error": outcome.error,
        "traceback": outcome.traceback,
        "delay": outcome.retry_delay,
        "postponed": outcome.postponed,
        "now": now,
    }
