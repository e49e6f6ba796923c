"""The SQLite store's coordination: slots, rate-limited starts, workers, schedules."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from ..records import JobRecord, ScheduleRecord, next_due, schedule_move
from . import queries as q
from ._file import SQLiteFile
from ._rows import count_added, new_rows


class SQLiteCoordination(SQLiteFile):
    """The :class:`~conveyor.stores.base.Coordination` methods, each one transaction."""

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
        params = schedule_move(queue, key, expected_tick, tick, next_tick, records)
        insert, rows = new_rows(records)

        def operation(conn: sqlite3.Connection) -> bool:
            if conn.execute(q.FIRE_SCHEDULE, params).rowcount != 1:
                return False
            conn.executemany(insert, rows)
            count_added(conn, rows)
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


def _schedule_row(r: ScheduleRecord) -> tuple[object, ...]:
    return (r.queue, r.key, r.spec, r.last_tick, r.next_tick, r.seen_at, r.last_job_id,
            int(r.paused))  # fmt: skip


def _schedule(row: Sequence[object]) -> ScheduleRecord:
    record = ScheduleRecord(*row)  # type: ignore[arg-type]
    record.paused = bool(record.paused)
    return record
