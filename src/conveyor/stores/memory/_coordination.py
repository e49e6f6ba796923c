"""The memory store's coordination: slots, rate-limited starts, workers, schedules."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ..records import JobRecord, ScheduleRecord, next_due
from ._state import MemoryState


class MemoryCoordination(MemoryState):
    """The :class:`~conveyor.stores.base.Coordination` methods, each under the store's lock."""

    async def acquire_slot(self, bucket: str, limit: int, holder: str, ttl: float) -> bool:
        """Take or renew a slot of ``bucket`` (at most ``limit`` live holders)."""
        now = self.clock.now()
        with self._lock:
            holders = self._slots[bucket]
            for other, until in list(holders.items()):
                if until <= now:
                    del holders[other]
            if holder not in holders and len(holders) >= limit:
                return False
            holders[holder] = now + ttl
            return True

    async def release_slot(self, bucket: str, holder: str) -> None:
        """Give back a slot."""
        with self._lock:
            self._slots[bucket].pop(holder, None)

    async def take_start(self, bucket: str, interval: float) -> float:
        """Take a start of ``bucket`` if one is due; else return the seconds to wait."""
        now = self.clock.now()
        with self._lock:
            due = self._rates.get(bucket, 0.0)
            if due > now:
                return due - now
            self._rates[bucket] = next_due(due, now, interval)
            return 0.0

    # -- workers -------------------------------------------------------------------------

    async def beat_worker(self, worker_id: str, info: str, ttl: float) -> None:
        """Keep the worker's info until ``ttl`` seconds from now."""
        with self._lock:
            self._workers[worker_id] = (self.clock.now() + ttl, info)

    async def list_workers(self) -> list[str]:
        """Return the info of workers whose last beat has not expired."""
        now = self.clock.now()
        with self._lock:
            return [info for _, (expires, info) in sorted(self._workers.items()) if expires > now]

    async def forget_worker(self, worker_id: str) -> None:
        """Forget a worker."""
        with self._lock:
            self._workers.pop(worker_id, None)

    # -- recurring schedules -----------------------------------------------------------

    async def save_schedules(self, records: Sequence[ScheduleRecord]) -> list[ScheduleRecord]:
        """Store new schedules; refresh the definition of known ones."""
        saved = []
        with self._lock:
            for record in records:
                known = self._schedules.get((record.queue, record.key))
                if known is None:
                    known = self._schedules[record.queue, record.key] = dataclasses.replace(record)
                else:
                    known.spec, known.next_tick = record.spec, record.next_tick
                    known.seen_at = record.seen_at
                saved.append(dataclasses.replace(known))
        return saved

    async def fire_schedule(
        self,
        queue: str,
        key: str,
        expected_tick: int,
        tick: int,
        next_tick: int | None,
        records: Sequence[JobRecord],
    ) -> bool:
        """Store the tick's jobs and move the schedule on, if it is still where expected."""
        with self._lock:
            known = self._schedules.get((queue, key))
            if known is None or known.paused or known.last_tick != expected_tick:
                return False
            known.last_tick, known.next_tick = tick, next_tick
            if records:
                known.last_job_id = records[-1].id
            for record in records:
                self._jobs[record.id] = dataclasses.replace(record)
                self._index(record)
        if records:
            self.changes.fire()
        return True

    async def list_schedules(self, queue: str) -> list[ScheduleRecord]:
        """Return copies of the queue's schedules, by key."""
        with self._lock:
            found = [dataclasses.replace(s) for (q, _), s in self._schedules.items() if q == queue]
        return sorted(found, key=lambda schedule: schedule.key)

    async def pause_schedule(self, queue: str, key: str, paused: bool, now_tick: int) -> bool:
        """Pause or resume; resuming passes over the ticks missed meanwhile."""
        with self._lock:
            known = self._schedules.get((queue, key))
            if known is None:
                return False
            if known.paused and not paused:
                known.last_tick = max(known.last_tick, now_tick)
            known.paused = paused
        return True

    async def remove_schedules(self, queue: str, keys: Sequence[str]) -> int:
        """Forget schedules."""
        with self._lock:
            return sum(self._schedules.pop((queue, key), None) is not None for key in keys)
