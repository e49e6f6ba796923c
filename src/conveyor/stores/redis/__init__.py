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
Commands go out on the store's own short path (:mod:`._conn`), not redis-py's client.

URL options: ``?prefix=`` (default ``conveyor``), ``?cluster=true`` (the URL names any
node of a Redis Cluster).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import redis
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import (
    AskError,
    ConnectionError,
    MovedError,
    NoScriptError,
    ResponseError,
    TimeoutError,
)

from ...clock import Clock, ServerClock
from ...errors import BackendUnavailableError
from ...events import JOB_ADDED
from ...job import JobStatus, QueueStats
from .._coalesce import Coalescer
from ..base import NoWritesHere, refuse_connection
from ..channel import RemoteEvents, decode_events, encode_event
from ..loops import PerLoop
from ..records import Capabilities, JobMatch, JobRecord, Outcome, Renewal, ScheduleRecord
from ..signals import ChangeSignal, ClaimsAfterWaking
from . import _scripts as lua
from ._armed import ArmedClaims
from ._cluster import SlotLocator
from ._codec import (
    SPEC,
    Arg,
    decode_flat,
    decode_pairs,
    many_record_args,
    outcome_args,
    ready_score,
    record_args,
    text,
)
from ._conn import Connections, describe, is_outage_reply
from ._keys import Keys
from ._listener import Listener
from ._packing import with_fast_packing
from ._url import parse_url

__all__ = ["RedisStore"]

T = TypeVar("T")
CONNECT_TIMEOUT = 3.0
# No socket timeout: with one, redis-py wraps every send in asyncio.wait_for, which
# costs a task per command and, on Python 3.11, can swallow a cancellation. A dead
# peer is found by TCP keepalive instead (after about 10 + 3 x 5 s of silence).
_KEEPALIVE = {
    option: value
    for name, value in (("TCP_KEEPIDLE", 10), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 3))
    if (option := getattr(socket, name, None)) is not None
}
CALIBRATE_EVERY = 60.0
RECOVER_BATCH = 1000
CLEAR_BATCH = 1000
# Events that cannot make work ready or finish a job need not wake anybody.
_QUIET_EVENTS = frozenset({"job:started", "job:progress"})
_STATUSES = tuple(status.value for status in JobStatus)
log = logging.getLogger("conveyor.stores.redis")

_UNAVAILABLE = (ConnectionError, TimeoutError, OSError)
_ARM_AT_LEAST = 0.01
"""Seconds of waiting below which an idle worker waits for the change signal only."""


class RedisStore(NoWritesHere, ClaimsAfterWaking):
    """The Redis store; see the module docstring."""

    capabilities = Capabilities(cross_process=True, cross_process_events=True)

    def __init__(self, url: str, clock: Clock | None = None) -> None:
        parsed = parse_url(url)
        self.url = parsed.masked
        self._server = parsed.server
        self.keys = Keys(parsed.prefix)
        self._locator = (
            SlotLocator(parsed.server, self.keys.tag, self.url, CONNECT_TIMEOUT)
            if parsed.cluster
            else None
        )
        self._relocate = parsed.cluster
        self._server_clock = None if clock is not None else ServerClock()
        self.clock: Clock = clock or self._server_clock  # type: ignore[assignment]
        self.changes = ChangeSignal()
        self.changes.on_first_waiter = self._poke = threading.Event()
        self.remote_events = RemoteEvents()
        self._origin = self.remote_events.origin
        self._own_messages = b'{"o":"%s"' % self._origin.encode()
        self._clients: PerLoop[Connections] = PerLoop(self._new_connections)
        self._armed: PerLoop[ArmedClaims] = PerLoop(
            lambda: ArmedClaims(self._new_pool().make_connection)
        )
        self._settlers: PerLoop[Coalescer[Outcome, bool]] = PerLoop(
            lambda: Coalescer(self._settle_now)
        )
        self._lock = threading.Lock()
        self._listener: Listener | None = None
        self._opened = False
        self._calibrate_at = 0.0
        self._claimed_last = False
        self._bells_refused = False

    # -- life cycle --------------------------------------------------------------------

    def _new_connections(self) -> Connections:
        return Connections(self._new_pool().make_connection)

    def _new_client(self) -> redis.asyncio.Redis:
        """Make a redis-py client with the store's connection options (for benchmarks)."""
        return redis.asyncio.Redis(connection_pool=self._new_pool())

    def _new_pool(self) -> redis.asyncio.ConnectionPool:
        pool = redis.asyncio.ConnectionPool.from_url(
            self._server,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=None,
            socket_keepalive=True,
            socket_keepalive_options=_KEEPALIVE,
            # One retry on a fresh connection: pooled ones die when the server restarts.
            retry=Retry(NoBackoff(), 1, supported_errors=(ConnectionError,)),
        )
        pool.connection_class = with_fast_packing(pool.connection_class)
        return pool

    def _new_sync_client(self) -> redis.Redis:
        return redis.Redis.from_url(
            self._server,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=None,
            socket_keepalive=True,
            socket_keepalive_options=_KEEPALIVE,
            protocol=2,  # the listener reads pub/sub messages as RESP2 arrays
        )

    async def open(self) -> None:
        """Check the server answers, read its clock, and start listening for events."""
        if self._relocate:
            await self._locate()
        if not self._opened:
            client = self._clients.get()
            await self._call(lambda: self._calibrate(client))
        with self._lock:
            if self._listener is None:
                self._listener = Listener(
                    self._new_sync_client,
                    self.keys.wake(self._origin),
                    self._wanted_channels,
                    self._poke,
                    self._on_message,
                    self.changes.fire,
                )
                self._listener.start()
            listener = self._listener
        # A remote event listener was added (the queue opens the store to say so): be
        # subscribed before anything goes on (a concurrent call waits here too, as it
        # sees the store not open yet), so that no event after this point is missed.
        channels = self._wanted_channels()
        if self.remote_events.has_listeners and not listener.wait_subscribed(channels, 0):
            await self._hurry(listener)
            loop = asyncio.get_running_loop()
            wait = listener.wait_subscribed
            if not await loop.run_in_executor(None, wait, channels, CONNECT_TIMEOUT):
                raise BackendUnavailableError(f"cannot subscribe to the events of {self.url}")
        self._opened = True

    def _wanted_channels(self) -> tuple[str, ...]:
        """Name the channels the listener needs now (called on its thread).

        A job made ready by an enqueue is announced on ``:events`` (its bell wakes the
        idle workers): where the server refused the bell wait, waiters follow both.
        """
        if self.remote_events.has_listeners or (self._bells_refused and self.changes.has_waiters):
            return (self.keys.changes, self.keys.events)
        if self.changes.has_waiters:
            return (self.keys.changes,)
        return ()

    async def close(self) -> None:
        """Stop the listener and close every event loop's connections; open() again works."""
        with self._lock:
            listener, self._listener = self._listener, None
            self._opened = False
        if listener is not None:
            listener.request_stop()
            await self._hurry(listener)
            await asyncio.get_running_loop().run_in_executor(None, listener.join)
        self._settlers.take_all()
        await self._drop_connections()

    async def _drop_connections(self) -> None:
        """Close every event loop's connections (new ones are made on the next command)."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for loop, client in self._clients.take_all():
            if loop is running:
                await client.aclose()
            elif loop.is_running():
                # Not awaited: that loop may be blocked waiting for this one.
                asyncio.run_coroutine_threadsafe(client.aclose(), loop)
        for loop, armed in self._armed.take_all():
            if loop is running:
                armed.close()
            elif loop.is_running():
                loop.call_soon_threadsafe(armed.close)

    async def _locate(self) -> None:
        """Ask the cluster which node serves the store's slot; talk to that one from now on."""
        assert self._locator is not None
        loop = asyncio.get_running_loop()
        server = await loop.run_in_executor(None, self._locator.locate)
        self._relocate = False
        if server != self._server:
            self._server = server  # the listener reconnects there if its node went away
            await self._drop_connections()

    def _retry_elsewhere(self, exc: ResponseError) -> bool:
        """Say whether a command refused with ``exc`` is worth one more try on a located node.

        Raise :class:`BackendUnavailableError` for replies that refuse every command for
        now (:func:`._conn.is_outage_reply`; a slot being migrated is one too): workers
        back off and try again. ``False``: a plain error reply, to raise as it is.
        """
        if isinstance(exc, MovedError) and self._locator is not None:
            self._relocate = True
            return True
        if isinstance(exc, AskError) or is_outage_reply(exc):
            raise self._unavailable(exc) from None
        return False

    def _unavailable(self, exc: BaseException) -> BackendUnavailableError:
        if self._locator is not None:
            self._relocate = True  # its primary may have failed over to a replica
            self._calibrate_at = 0.0  # so that the next call takes the path that locates
        return BackendUnavailableError(f"Redis at {self.url} is unavailable: {describe(exc)}")

    async def _hurry(self, listener: Listener) -> None:
        """Make the listener look at its stop flag and channels now, not after its read."""
        listener.refresh()
        if listener.connected:
            with contextlib.suppress(*_UNAVAILABLE):  # it notices within its read timeout
                await self._clients.get().execute("PUBLISH", self.keys.wake(self._origin), b"")

    async def _calibrate(self, client: Connections) -> None:
        sent = time.time()
        seconds, micros = await client.execute("TIME")
        received = time.time()
        if self._server_clock is not None:
            self._server_clock.calibrate(int(seconds) + int(micros) / 1e6, sent, received)
        self._calibrate_at = time.monotonic() + CALIBRATE_EVERY

    def _on_message(self, data: bytes) -> None:
        """Run on the listener thread for every event message."""
        if data.startswith(self._own_messages):
            return  # this store fired its own changes already
        origin, events = decode_events(data)
        if any(event.event not in _QUIET_EVENTS for event in events):
            self.changes.fire()
        self.remote_events.deliver(origin, events)

    async def _client(self) -> Connections:
        if not self._opened:
            await self.open()
        if self._relocate:
            await self._locate()
        client = self._clients.get()
        if time.monotonic() > self._calibrate_at:
            await self._call(lambda: self._calibrate(client))
        return client

    async def _call(self, operation: Callable[[], Awaitable[T]]) -> T:
        try:
            return await operation()
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from None
        except ResponseError as exc:
            if is_outage_reply(exc):
                raise self._unavailable(exc) from None
            raise

    async def _run(self, script: lua.Script, args: list[Arg]) -> Any:
        # _client() and _call() inlined: every script call takes this path.
        if self._opened and time.monotonic() <= self._calibrate_at:
            client = self._clients.get()
        else:
            client = await self._client()
        tag = self.keys.tag
        try:
            return await client.execute("EVALSHA", script.sha, 1, tag, *args)
        except NoScriptError:
            pass  # the server restarted or flushed its scripts: the call below loads it
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from None
        except ResponseError as exc:
            if not self._retry_elsewhere(exc):
                raise
            client = await self._client()  # on the node that serves the slot now
        return await self._call(lambda: script(client, tag, args))

    async def _command(self, *args: Arg) -> Any:
        """Run one plain command (not a script) on the node that holds the store's keys."""
        client = await self._client()
        try:
            return await self._call(lambda: client.execute(*args))
        except ResponseError as exc:
            if not self._retry_elsewhere(exc):
                raise
        client = await self._client()
        return await self._call(lambda: client.execute(*args))

    # -- jobs --------------------------------------------------------------------------

    async def enqueue(self, records: Sequence[JobRecord], connection: object = None) -> None:
        """Store ``records``, all or none, in one script call."""
        refuse_connection(connection, self.url)
        if not records:
            return
        if len(records) == 1:
            record = records[0]
            added = encode_event(self._origin, JOB_ADDED, record.id, record.queue)
            score = ready_score(record.priority, record.run_at)
            await self._run(lua.ENQUEUE, [added, score, *record_args(record)])
        else:
            await self._run(lua.ENQUEUE_MANY, [self._origin, *many_record_args(records)])
        self.changes.fire()

    async def enqueue_unique(self, record: JobRecord, connection: object = None) -> str:
        """Store ``record`` unless a job of its queue holds its key (one script call)."""
        refuse_connection(connection, self.url)
        assert record.unique_key is not None
        args: list[Arg] = [self._origin, record.unique_key, *record_args(record)]
        holder = text(await self._run(lua.ENQUEUE_UNIQUE, args))
        if holder == record.id:
            self.changes.fire()
        return holder

    async def acquire_slot(self, bucket: str, limit: int, holder: str, ttl: float) -> bool:
        """Take or renew a slot of ``bucket`` (one script call)."""
        return bool(await self._run(lua.SLOT_ACQUIRE, [bucket, holder, limit, ttl]))

    async def release_slot(self, bucket: str, holder: str) -> None:
        """Give back a slot."""
        await self._run(lua.SLOT_RELEASE, [bucket, holder])

    async def age_jobs(self, queue: str, before: float, limit: int) -> int:
        """Raise long-waiting pending jobs one priority level (one script call)."""
        return int(await self._run(lua.AGE, [queue, before, limit]))

    async def take_start(self, bucket: str, interval: float) -> float:
        """Take a start of ``bucket`` if one is due (one script call, server time)."""
        return float(text(await self._run(lua.RATE_TAKE, [bucket, interval])))

    async def claim(
        self, queues: Sequence[str], limit: int, worker_id: str, lease: float
    ) -> list[JobRecord]:
        """Claim up to ``limit`` ready jobs in one script call."""
        if limit <= 0 or not queues:
            return []
        if self._claimed_last:
            # A worker claims again as soon as it started what it claimed: let those
            # jobs begin first (one turn of the loop) rather than after this call is sent.
            await asyncio.sleep(0)
        rows = await self._run(lua.CLAIM, self._claim_args(queues, limit, worker_id, lease))
        return self._claimed(rows)

    def _claim_args(
        self, queues: Sequence[str], limit: int, worker_id: str, lease: float
    ) -> list[Arg]:
        """``claim.lua``'s arguments."""
        return [self._origin, worker_id, lease, limit, *queues]

    def _claimed(self, rows: list[list[bytes]]) -> list[JobRecord]:
        """Turn ``claim.lua``'s reply into jobs (and note whether it took any)."""
        self._claimed_last = bool(rows)
        return [decode_flat(row) for row in rows]

    async def wait_for_work(
        self,
        queues: Sequence[str],
        limit: int,
        worker_id: str,
        lease: float,
        timeout: float,
        since: int,
    ) -> list[JobRecord]:
        """Block on the queues' bells with a claim queued behind (:mod:`._armed`)."""
        if (
            limit <= 0
            or not queues
            or timeout < _ARM_AT_LEAST
            or not self._opened
            or self._bells_refused
        ):
            return await super().wait_for_work(queues, limit, worker_id, lease, timeout, since)
        if self.changes.generation != since:
            return []
        claim: list[Arg] = ["EVALSHA", lua.CLAIM.sha, 1, self.keys.tag]
        try:
            rows = await self._armed.get().wait(
                [self.keys.bell(queue) for queue in queues],
                timeout,
                [*claim, *self._claim_args(queues, limit, worker_id, lease)],
                self.changes,
                since,
                lambda client_id: self._command("CLIENT", "UNBLOCK", client_id),
            )
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from None
        except ResponseError as exc:
            if isinstance(exc, NoScriptError) or self._retry_elsewhere(exc):
                return []  # the worker's next claim loads the script, or finds the slot
            # Refused (an ACL without BLPOP or CLIENT, say): wait on pub/sub alone.
            log.warning("idle workers of %s wait for pub/sub messages only: %s", self.url, exc)
            self._bells_refused = True
            if (listener := self._listener) is not None:
                await self._hurry(listener)  # to follow :events too
            return await super().wait_for_work(queues, limit, worker_id, lease, timeout, since)
        return self._claimed(rows)

    async def renew(self, job_ids: Sequence[str], worker_id: str, lease: float) -> Renewal:
        """Extend the leases ``worker_id`` still holds."""
        if not job_ids:
            return Renewal()
        lost, cancels = await self._run(lua.RENEW, [worker_id, lease, *job_ids])
        return Renewal(frozenset(map(text, lost)), frozenset(map(text, cancels)))

    async def settle(self, outcomes: Sequence[Outcome]) -> list[bool]:
        """Apply outcomes, each only if its worker still owns the attempt.

        Settles made at the same time in one event loop (a worker's jobs finishing
        together) go to the server in one script call.
        """
        if not outcomes:
            return []
        return await self._settlers.get().submit(outcomes)

    async def _settle_now(self, outcomes: list[Outcome]) -> list[bool]:
        args: list[Arg] = [self._origin]
        for outcome in outcomes:
            args += outcome_args(outcome)
        applied = await self._run(lua.SETTLE, args)
        self.changes.fire()
        return [bool(flag) for flag in applied]

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
