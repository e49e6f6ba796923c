"""The Redis store's :class:`~conveyor.stores.base.Coordination`: slots, starts, workers, schedules.

Each method is one script call (or one plain command) on the store's keys: concurrency
slots and rate-limited starts on the server's clock, worker presence in the
``workers`` hash, and per queue a hash of recurring schedules whose JSON states the
scripts move on exactly once per tick.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from ..records import JobRecord, ScheduleRecord
from . import _scripts as lua
from ._codec import Arg, many_record_args, text
from ._plumbing import RedisPlumbing


class RedisCoordination(RedisPlumbing):
    """What the processes sharing a Redis store agree on, one script call each."""

    # -- slots and starts ----------------------------------------------------------------

    async def acquire_slot(self, bucket: str, limit: int, holder: str, ttl: float) -> bool:
        """Take or renew a slot of ``bucket`` (one script call)."""
        return bool(await self._run(lua.SLOT_ACQUIRE, [bucket, holder, limit, ttl]))

    async def release_slot(self, bucket: str, holder: str) -> None:
        """Give back a slot."""
        await self._run(lua.SLOT_RELEASE, [bucket, holder])

    async def take_start(self, bucket: str, interval: float) -> float:
        """Take a start of ``bucket`` if one is due (one script call, server time)."""
        return float(text(await self._run(lua.RATE_TAKE, [bucket, interval])))

    # -- workers -------------------------------------------------------------------------

    async def beat_worker(self, worker_id: str, info: str, ttl: float) -> None:
        """Keep the worker's info until ``ttl`` seconds from now (expired ones go)."""
        await self._run(lua.WORKER_BEAT, [worker_id, info, ttl])

    async def list_workers(self) -> list[str]:
        """Return the info of workers whose last beat has not expired."""
        return [text(info) for info in await self._run(lua.WORKER_LIST, [])]

    async def forget_worker(self, worker_id: str) -> None:
        """Forget a worker."""
        await self._command("HDEL", self.keys.workers, worker_id)

    # -- recurring schedules -----------------------------------------------------------

    async def save_schedules(self, records: Sequence[ScheduleRecord]) -> list[ScheduleRecord]:
        """Store new schedules and refresh known ones, all in one script call."""
        if not records:
            return []
        args: list[Arg] = []
        for r in records:
            args += (r.queue, r.key, r.spec, r.last_tick, _or_empty(r.next_tick), repr(r.seen_at))
        states = await self._run(lua.SCHEDULE_SAVE, args)
        return [_schedule(r.queue, r.key, state) for r, state in zip(records, states, strict=True)]

    async def fire_schedule(
        self,
        queue: str,
        key: str,
        expected_tick: int,
        tick: int,
        next_tick: int | None,
        records: Sequence[JobRecord],
    ) -> bool:
        """Move the schedule on and store the tick's jobs in one script call, or do nothing."""
        job_id = records[-1].id if records else ""
        args: list[Arg] = [self._origin, queue, key, expected_tick, tick, _or_empty(next_tick),
                           job_id]  # fmt: skip
        args += many_record_args(records)
        fired = bool(await self._run(lua.SCHEDULE_FIRE, args))
        if fired and records:
            self.changes.fire()
        return fired

    async def list_schedules(self, queue: str) -> list[ScheduleRecord]:
        """Return the queue's schedules, by key."""
        states = await self._command("HGETALL", self.keys.schedules(queue))
        return sorted(
            (_schedule(queue, key, state) for key, state in states.items()),  # RESP3: a map
            key=lambda schedule: schedule.key,
        )

    async def pause_schedule(self, queue: str, key: str, paused: bool, now_tick: int) -> bool:
        """Pause or resume a schedule; resuming passes over the ticks missed meanwhile."""
        args: list[Arg] = [queue, key, "1" if paused else "0", now_tick]
        return bool(await self._run(lua.SCHEDULE_PAUSE, args))

    async def remove_schedules(self, queue: str, keys: Sequence[str]) -> int:
        """Delete schedules (their jobs stay)."""
        if not keys:
            return 0
        return int(await self._command("HDEL", self.keys.schedules(queue), *keys))


def _or_empty(tick: int | None) -> Arg:
    return "" if tick is None else tick


def _schedule(queue: str, key: bytes | str, state: bytes) -> ScheduleRecord:
    """Read a schedule's state as the scripts write it (JSON, every value a string)."""
    fields = json.loads(state)
    return ScheduleRecord(
        queue=queue,
        key=text(key),
        spec=fields["spec"],
        last_tick=int(fields["last_tick"]),
        next_tick=int(fields["next_tick"]) if fields["next_tick"] else None,
        seen_at=float(fields["seen_at"]),
        last_job_id=fields["last_job_id"] or None,
        paused=fields["paused"] == "1",
    )
