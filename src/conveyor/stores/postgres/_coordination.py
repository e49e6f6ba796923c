"""The PostgreSQL store's :class:`~conveyor.stores.base.Coordination`.

Concurrency slots, rate-limited starts on the server's clock, worker presence and
recurring schedules: each method is one statement of ``queries.sql``, or one
transaction (a slot taken under a transaction-scoped advisory lock; a schedule's tick
moved on with its jobs inserted).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..records import JobRecord, ScheduleRecord, schedule_move
from ._codec import record_params
from ._plumbing import PostgresPlumbing


class PostgresCoordination(PostgresPlumbing):
    """What the processes sharing a PostgreSQL store agree on, one statement each."""

    # -- slots and starts ----------------------------------------------------------------

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

    async def take_start(self, bucket: str, interval: float) -> float:
        """Take a start of ``bucket`` if one is due (one statement, on the server's clock)."""
        rows = await self._fetch(self._q.take_start, {"bucket": bucket, "interval": interval})
        # Not taken and no row seen: another statement took it meanwhile; look again soon.
        return float(rows[0][0]) if rows else 0.001

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
        move = schedule_move(queue, key, expected_tick, tick, next_tick, records)
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
