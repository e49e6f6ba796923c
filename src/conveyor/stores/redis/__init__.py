"""``redis://host:port/db?prefix=conveyor`` (and ``rediss://``): a store shared by many machines.

Every state change is one Lua script (``lua/*.lua``), loaded once and called by SHA,
so it is atomic on the server and costs one round trip; claims and settles take
batches. Due times, claims, lease deadlines and recovery use the server's ``TIME``,
and :attr:`RedisStore.clock` is that clock as this machine estimates it.

Key layout (every key starts with the hash tag ``{prefix}``, see :mod:`._keys`): a hash
per job; per queue a sorted set of ready jobs scored by priority then run_at, one of
scheduled jobs by run_at, and one per status ordered by id (listing, counting); one
sorted set of running jobs by lease deadline; per queue a hash of recurring schedules,
a JSON state (spec, ticks, seen_at, last job, paused) per schedule key, and a list, its
bell, that holds at most one token. Redis Cluster works (``?cluster=true``): all of one
prefix lives in one slot, so on one shard, and the store talks to the primary that
serves it (:mod:`._cluster`); give separate prefixes to spread queues over shards.

Every script publishes the job events it caused as one message: on ``{prefix}:changes``
those that can make work ready or finish a job, on ``{prefix}:events`` the others
(started, progress, and the addition of a job ready at once, whose bell wakes the idle
workers). A listener thread turns them into wake-ups for idle workers and
waiters (:attr:`~RedisStore.changes`) and into :attr:`~RedisStore.remote_events`. It
subscribes only while it is needed: to ``:changes`` while a coroutine waits on
:attr:`~RedisStore.changes` (and a few seconds after), to both while anybody listens to
remote events. A process that only enqueues receives nothing, not even its own events.
An idle worker also blocks on its queues' bells with its next claim queued behind
(:mod:`._armed`): an enqueue rings the bell, and the claim runs on the server at once.
Commands go out on the store's own short path (:mod:`._conn`), not redis-py's client;
``queue.sync`` enqueues send theirs on the calling thread (:mod:`._here`).

:class:`RedisStore` is built in layers: :mod:`._plumbing` has its connections, command
paths and listener, :mod:`._coordination` its :class:`~conveyor.stores.base.Coordination`
(slots, starts, workers, schedules), :mod:`._claims` a worker's claims and settles, and
this module the rest of the jobs' life.

URL options: ``?prefix=`` (default ``conveyor``), ``?cluster=true`` (the URL names any
node of a Redis Cluster).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ...events import JOB_ADDED
from ...job import JobStatus, QueueStats
from ..base import refuse_connection
from ..channel import encode_event
from ..records import Capabilities, JobMatch, JobRecord, Renewal
from . import _scripts as lua
from ._claims import RedisClaims
from ._codec import (
    SPEC,
    Arg,
    decode_flat,
    decode_pairs,
    many_record_args,
    ready_score,
    record_args,
    text,
)

__all__ = ["RedisStore"]

RECOVER_BATCH = 1000
CLEAR_BATCH = 1000
_STATUSES = tuple(status.value for status in JobStatus)


class RedisStore(RedisClaims):
    """The Redis store; see the module docstring."""

    # Two claim lanes: a worker's drain on Redis +57 % (bench/shortcuts.py claim-lanes).
    capabilities = Capabilities(cross_process=True, cross_process_events=True, claim_lanes=2)

    # -- jobs --------------------------------------------------------------------------

    async def enqueue(self, records: Sequence[JobRecord], connection: object = None) -> None:
        """Store ``records``, all or none, in one script call."""
        refuse_connection(connection, self.url)
        if not records:
            return
        await self._run(*self._enqueue_call(records))
        self.changes.fire()

    def enqueue_here(self, records: Sequence[JobRecord]) -> bool:
        """Store ``records`` as :meth:`enqueue` does, on the calling thread, blocking.

        False, having done nothing, where the event loop must: the store was closed
        meanwhile, or a cluster moved the store's slot.
        """
        # A second enqueue path, kept for speed: bench/shortcuts.py blocking-enqueue-redis
        # (queue.sync.enqueue on Redis +105 to +119 %).
        if not records:
            return True
        if not self._run_here(*self._enqueue_call(records)):
            return False
        self.changes.fire()
        return True

    def _enqueue_call(self, records: Sequence[JobRecord]) -> tuple[lua.Script, list[Arg]]:
        """Return the script and arguments that store new jobs ``records`` (one or more)."""
        if len(records) == 1:
            record = records[0]
            added = encode_event(self._origin, JOB_ADDED, record.id, record.queue)
            score = ready_score(record.priority, record.run_at)
            return lua.ENQUEUE, [added, score, *record_args(record)]
        return lua.ENQUEUE_MANY, [self._origin, *many_record_args(records)]

    async def enqueue_unique(self, record: JobRecord, connection: object = None) -> str:
        """Store ``record`` unless a job of its queue holds its key (one script call)."""
        refuse_connection(connection, self.url)
        assert record.unique_key is not None
        args: list[Arg] = [self._origin, record.unique_key, *record_args(record)]
        holder = text(await self._run(lua.ENQUEUE_UNIQUE, args))
        if holder == record.id:
            self.changes.fire()
        return holder

    async def age_jobs(self, queue: str, before: float, limit: int) -> int:
        """Raise long-waiting pending jobs one priority level (one script call)."""
        return int(await self._run(lua.AGE, [queue, before, limit]))

    async def renew(self, job_ids: Sequence[str], worker_id: str, lease: float) -> Renewal:
        """Extend the leases ``worker_id`` still holds."""
        if not job_ids:
            return Renewal()
        lost, cancels = await self._run(lua.RENEW, [worker_id, lease, *job_ids])
        return Renewal(frozenset(map(text, lost)), frozenset(map(text, cancels)))

    async def recover_expired(self) -> list[str]:
        """Requeue (or fail, when out of attempts) jobs whose lease ran out."""
        recovered: list[str] = []
        while True:
            ids, seen = await self._run(lua.RECOVER, [self._origin, RECOVER_BATCH])
            recovered += map(text, ids)
            if seen < RECOVER_BATCH:
                break
        if recovered:
            self.changes.fire()
        return recovered

    async def cancel(self, job_id: str) -> JobStatus | None:
        """Cancel a waiting job, or flag a running one for its worker."""
        status = await self._run(lua.CANCEL, [self._origin, job_id])
        if status is None:
            return None
        self.changes.fire()
        return JobStatus(text(status))

    async def retry(self, job_id: str) -> bool:
        """Send a failed or cancelled job back to pending with fresh attempts."""
        if not await self._run(lua.RETRY, [self._origin, job_id]):
            return False
        self.changes.fire()
        return True

    async def set_progress(
        self, job_id: str, worker_id: str, percent: float, message: str | None
    ) -> bool:
        """Record progress of a job ``worker_id`` holds."""
        args: list[Arg] = [self._origin, job_id, worker_id, percent]
        if message is not None:
            args.append(message)
        return bool(await self._run(lua.PROGRESS, args))

    async def get(self, job_id: str) -> JobRecord | None:
        """Return one job."""
        fields = await self._command("HGETALL", self.keys.job(job_id))
        return decode_pairs(fields.items()) if fields else None  # RESP3: a map

    async def list_jobs(
        self, queue: str, status: JobStatus, limit: int, offset: int
    ) -> list[JobRecord]:
        """Return a queue's jobs in one status, oldest first."""
        if limit <= 0:
            return []
        rows = await self._run(lua.LIST, [queue, status.value, offset, limit])
        return [decode_flat(row) for row in rows]

    async def stats(self, queue: str) -> QueueStats:
        """Count a queue's jobs per status."""
        counts = await self._run(lua.STATS, [queue, *_STATUSES])
        return QueueStats(**dict(zip(_STATUSES, counts, strict=True)))

    async def clear_completed(self, queue: str) -> int:
        """Delete a queue's completed jobs, a batch per script call."""
        total = 0
        while True:
            removed = int(await self._run(lua.CLEAR, [queue, CLEAR_BATCH]))
            total += removed
            if removed < CLEAR_BATCH:
                return total

    async def next_due(self, queues: Sequence[str]) -> float | None:
        """Return the earliest time a scheduled job of ``queues`` becomes ready."""
        if not queues:
            return None
        due = await self._run(lua.NEXT_DUE, list(queues))
        return None if due is None else float(due)

    # -- bulk steering -------------------------------------------------------------------
    # The client pages through a status set (peek.lua) and picks the jobs a match takes;
    # a script then changes those still in that status. No script scans a whole set.

    async def _pick(self, match: JobMatch, limit: int | None) -> list[str]:
        """Return the ids (oldest first) of up to ``limit`` jobs ``match`` takes."""
        picked: list[str] = []
        after = ""
        while limit is None or len(picked) < limit:
            page = await self._run(lua.PEEK, [match.queue, match.status.value, after, PEEK_PAGE])
            for job_id, line, completed_at in zip(page[::3], page[1::3], page[2::3], strict=True):
                if _takes(match, json.loads(line), completed_at):
                    picked.append(text(job_id))
            if len(page) < 3 * PEEK_PAGE:
                break
            after = text(page[-3])
        return picked if limit is None else picked[:limit]

    async def count_jobs(self, match: JobMatch) -> int:
        """Count the jobs ``match`` takes (a status set's size when nothing else narrows)."""
        if match.name is None and not match.skip_names and match.before is None:
            key = self.keys.status(match.queue, match.status.value)
            return int(await self._command("ZCARD", key))
        return len(await self._pick(match, None))

    async def delete_jobs(self, match: JobMatch, limit: int) -> int:
        """Delete the oldest ``limit`` jobs ``match`` takes (never running ones)."""
        return await self._steer("delete", match, limit)

    async def retry_jobs(self, match: JobMatch, limit: int) -> int:
        """Send the oldest ``limit`` failed or cancelled jobs ``match`` takes back to pending."""
        return await self._steer("retry", match, limit)

    async def cancel_jobs(self, match: JobMatch, limit: int) -> int:
        """Cancel the oldest ``limit`` waiting jobs ``match`` takes."""
        return await self._steer("cancel", match, limit)

    async def _steer(self, action: str, match: JobMatch, limit: int) -> int:
        if match.status is JobStatus.PROCESSING:
            return 0
        picked = await self._pick(match, limit)
        if not picked:
            return 0
        done = int(await self._run(lua.STEER, [self._origin, action, match.status.value, *picked]))
        if done and action != "delete":
            self.changes.fire()
        return done

    async def delete_job(self, job_id: str) -> bool:
        """Delete one job unless it is running."""
        return bool(await self._run(lua.STEER, [self._origin, "delete", "", job_id]))


PEEK_PAGE = 500
_NAME, _CREATED_AT = SPEC.index("name"), SPEC.index("created_at")


def _takes(match: JobMatch, spec: list[Any], completed_at: bytes | None) -> bool:
    """Say whether a peeked job (its spec line's fields) is one ``match`` takes."""
    name = spec[_NAME]
    if (match.name is not None and name != match.name) or name in match.skip_names:
        return False
    if match.before is None:
        return True
    when = float(completed_at) if match.status.is_finished and completed_at else spec[_CREATED_AT]
    return when is not None and float(when) < match.before
