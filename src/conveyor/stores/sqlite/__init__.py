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

:class:`SQLiteStore` is built in layers: :mod:`._file` has the threads and the watcher,
:mod:`._coordination` the :class:`~conveyor.stores.base.Coordination` methods, this
module the jobs.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from ...errors import BackendUnavailableError
from ...job import JobStatus, QueueStats
from ..base import refuse_connection
from ..records import Capabilities, JobMatch, JobRecord, Outcome, Renewal
from ..signals import ClaimsAfterWaking
from . import queries as q
from ._connection import BUSY, BulkInsert
from ._coordination import SQLiteCoordination
from ._rows import count_added, new_rows
from ._settles import Settles, settle_row


class SQLiteStore(ClaimsAfterWaking, SQLiteCoordination):
    """The embedded SQLite store; see the module docstring."""

    capabilities = Capabilities(cross_process=True, cross_process_events=False)

    # -- jobs --------------------------------------------------------------------------

    async def enqueue(self, records: Sequence[JobRecord], connection: object = None) -> None:
        """Insert ``records`` in one transaction."""
        refuse_connection(connection, self.url)
        # A BulkInsert returns nothing: a cursor handed to another thread would reset
        # the writer's cached statement while it may be running the next batch.
        await self._write(BulkInsert(*new_rows(records), count_added))

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
        operation = BulkInsert(*new_rows(records), count_added)
        return writer.run_here(operation, durable=True) is not BUSY

    async def enqueue_unique(self, record: JobRecord, connection: object = None) -> str:
        """Insert ``record`` unless a job of its queue holds its key (one transaction)."""
        refuse_connection(connection, self.url)
        insert, rows = new_rows([record])
        key = (record.queue, record.unique_key, self.clock.now())

        def operation(conn: sqlite3.Connection) -> str:
            holder = conn.execute(q.KEY_HOLDER, key).fetchone()
            if holder is not None:
                return str(holder[0])
            conn.executemany(insert, rows)
            count_added(conn, rows)
            return record.id

        return await self._write(operation)

    async def age_jobs(self, queue: str, before: float, limit: int) -> int:
        """Raise long-waiting pending jobs one priority level (one write transaction)."""
        params = {"queue": queue, "before": before, "limit": limit, "now": self.clock.now()}
        return int(await self._write(lambda c: c.execute(q.AGE, params).rowcount, durable=False))

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
        operation = Settles([settle_row(outcome, now) for outcome in outcomes])
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
