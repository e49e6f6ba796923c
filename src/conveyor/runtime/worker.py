"""The worker: claims jobs for its free slots and runs each one's attempt beside the others.

One :class:`Worker` runs up to ``concurrency`` jobs of one process at once. It claims
only what it has free slots for, so the backlog stays in the store, and starts one task
per claimed job: that task is the attempt (``attempt.py``), which passes the start gates
(``gates.py``), runs the handler and has the store apply its outcome, only if this
worker still owns the attempt. Beside the claims, the worker renews its jobs' leases
and concurrency slots, tells the store it is alive, requeues the jobs of workers that
stopped, and stops gracefully: running jobs finish, or are put back at a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..definitions.handlers import Handler
from ..definitions.hooks import Hooks
from ..errors import ConveyorError, SerializationError
from ..events import EventEmitter
from ..job import Job, JobConfig, JobStatus, ask_cancel
from ..serializers import Serializer
from ..stores.base import Store
from ..stores.records import JobRecord, Outcome
from .attempt import Attempts, Backoff
from .gates import StartGates
from .outcomes import Outcomes, Running
from .tasks import cancel_and_wait

log = logging.getLogger("conveyor.worker")

MakeJob = Callable[[JobRecord], Job]


HOOK_GRACE = 5.0
"""Seconds a stop waits for ``on_failure`` hooks still running."""
PRESENCE_EVERY = 5.0
"""Seconds between two beats that tell the store this worker is alive."""
PRESENCE_TTL = 15.0
"""A worker whose last beat is older than this is no longer listed."""


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A worker process as it last told the store (``queue.get_workers()``)."""

    id: str
    """The worker's id (``host:pid:random``), which the jobs it holds carry."""
    host: str
    """The machine's host name."""
    pid: int
    """The process id on that machine."""
    queues: tuple[str, ...]
    """The names of the queues it serves."""
    concurrency: int
    """How many jobs it runs at once at most."""
    started_at: datetime
    """When it started (aware, UTC)."""
    seen_at: datetime
    """Its last beat (aware, UTC)."""
    running: tuple[str, ...]
    """Ids of the jobs it ran at its last beat."""

    @classmethod
    def from_json(cls, info: str) -> WorkerInfo:
        """Read the JSON a worker beats with."""
        data = json.loads(info)
        return cls(
            id=data["id"], host=data["host"], pid=int(data["pid"]),
            queues=tuple(data["queues"]), concurrency=int(data["concurrency"]),
            started_at=datetime.fromtimestamp(data["started_at"], UTC),
            seen_at=datetime.fromtimestamp(data["seen_at"], UTC),
            running=tuple(data["running"]),
        )  # fmt: skip


class Worker:
    """Runs jobs from ``queues`` of ``store`` with the given handlers."""

    def __init__(
        self,
        *,
        store: Store,
        handlers: Mapping[str, Handler],
        queues: Sequence[str],
        concurrency: int,
        lease: float,
        serializer: Serializer,
        emitter: EventEmitter,
        make_job: MakeJob,
        idle_poll: float = 1.0,
        hooks: Hooks | None = None,
        continue_chain: Callable[[Job, Any], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self.handlers = handlers
        self.queues = list(queues)
        self.concurrency = concurrency
        self.lease = lease
        self.serializer = serializer
        self.emitter = emitter
        self.make_job = make_job
        self.idle_poll = idle_poll
        self.hooks = hooks if hooks is not None else Hooks()
        self.continue_chain = continue_chain
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._running: dict[str, Running] = {}
        self._slot_freed = asyncio.Event()
        self._stopping = False
        self._hurry = asyncio.Event()
        self._claim_loops: list[asyncio.Task[None]] = []
        self._loops: list[asyncio.Task[None]] = []
        """The heartbeat, recovery and presence loops."""
        self._store_waiter = asyncio.Lock()
        """Held by the claim lane that waits for work on the store (one at a time)."""
        self._lanes_woken: asyncio.Future[None] | None = None
        """Resolved when that wait ends: the other idle lanes claim again."""
        self._threads = ThreadPoolExecutor(concurrency, thread_name_prefix="conveyor-handler")
        outcomes = Outcomes(self.worker_id, handlers)
        self._gates = StartGates(store, handlers, serializer, outcomes, lease)
        self._attempts = Attempts(
            store=store, handlers=handlers, serializer=serializer, emitter=emitter,
            hooks=self.hooks, outcomes=outcomes, gates=self._gates, lease=lease,
            running=self._running, slot_freed=self._slot_freed, threads=self._threads,
            continue_chain=continue_chain,
        )  # fmt: skip

    @property
    def running_job_ids(self) -> list[str]:
        """Ids of the jobs whose handlers run now (not those whose outcome is being stored)."""
        return [job_id for job_id, running in self._running.items() if not running.settling]

    # -- life cycle --------------------------------------------------------------------

    def start(self) -> None:
        """Start claiming, heartbeats and lease recovery as tasks of the running loop."""
        self._claim_loops = [
            asyncio.create_task(self._claim_loop(lane, share), name=f"conveyor-claim-{lane}")
            for lane, share in enumerate(self._lane_shares())
        ]
        self._loops = [
            asyncio.create_task(self._heartbeat_loop(), name="conveyor-heartbeat"),
            asyncio.create_task(self._recovery_loop(), name="conveyor-recovery"),
            asyncio.create_task(self._presence_loop(), name="conveyor-presence"),
        ]

    async def stop(self, timeout: float | None = None) -> None:
        """Stop claiming, wait for running jobs; at ``timeout``, put the rest back."""
        self._stopping = True
        self._slot_freed.set()
        self.store.changes.fire()
        self._wake_lanes()
        await asyncio.gather(*self._claim_loops, return_exceptions=True)
        tasks = {r.task for r in self._running.values() if r.task is not None}
        if tasks:
            pending = await self._wait_running(tasks, timeout)
            if pending:
                log.warning("stop deadline reached: %d unfinished job(s) put back", len(pending))
                self._attempts.putting_back = True
                await cancel_and_wait(pending, cancel_while=self._interruptible_task)
        await cancel_and_wait(self._loops)
        if self._attempts.on_failure_tasks:
            await asyncio.wait(self._attempts.on_failure_tasks, timeout=HOOK_GRACE)
        with contextlib.suppress(ConveyorError):
            await self.store.forget_worker(self.worker_id)
        self._threads.shutdown(wait=False, cancel_futures=True)

    def _interruptible_task(self, task: asyncio.Task[Any]) -> bool:
        """Tell whether the job task may be cancelled: begun, and not settling yet."""
        return any(r.task is task and r.interruptible for r in self._running.values())

    def hurry(self) -> None:
        """Make a stop in progress put the running jobs back now instead of waiting."""
        self._hurry.set()

    async def _wait_running(
        self, tasks: set[asyncio.Task[None]], timeout: float | None
    ) -> set[asyncio.Task[None]]:
        """Wait for ``tasks`` until ``timeout`` or :meth:`hurry`; return the unfinished."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        hurry = asyncio.create_task(self._hurry.wait())
        pending = set(tasks)
        try:
            while pending and not hurry.done():
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    break
                done, _ = await asyncio.wait(
                    pending | {hurry}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
                pending -= done
        finally:
            hurry.cancel()
        return pending

    def cancel_local(self, job_id: str) -> bool:
        """Stop a job this worker runs because it was cancelled; False if not held here."""
        running = self._running.get(job_id)
        if running is None or running.task is None:
            return False
        running.cancel_requested = True
        ask_cancel(running.job)
        if running.interruptible:  # else it begins later, or its outcome is being stored
            running.task.cancel()
        return True

    # -- claiming ----------------------------------------------------------------------

    def _lane_shares(self) -> list[int]:
        """Split the slots between the claim lanes the store asks for (one, as a rule).

        Each lane claims for its own share of the slots; with two, one lane's claim is
        on its way while the other's jobs run (``Capabilities.claim_lanes``).
        """
        lanes = max(1, min(self.store.capabilities.claim_lanes, self.concurrency))
        return [self.concurrency // lanes + (lane < self.concurrency % lanes)
                for lane in range(lanes)]  # fmt: skip

    async def _claim_loop(self, lane: int, share: int) -> None:
        outage = Backoff()
        while not self._stopping:
            free = self._free_slots(lane, share)
            if free <= 0:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                await asyncio.sleep(0)  # let sibling jobs finish too: claim them as one batch
                continue
            generation = self.store.changes.generation
            try:
                records = await self.store.claim(self.queues, free, self.worker_id, self.lease)
                if not records:
                    records = await self._wait_for_work(free, generation)
                outage.reset()
            except ConveyorError as exc:
                await outage.wait("claim", exc)
                continue
            if self._stopping:
                await self._release_unstarted(records)
                return
            if len(records) >= free:
                self._wake_lanes()  # a full batch: more may be ready, for the other lanes
            for record in records:
                self._start(record, lane)
            if records:
                # The jobs begin before the next claim is sent (a send can hand the CPU
                # to the server at once): a job found after a wait starts sooner.
                await asyncio.sleep(0)

    async def _wait_for_work(self, free: int, generation: int) -> list[JobRecord]:
        """Wait for work as the store does, one lane at a time.

        A lane that finds another one waiting on the store waits until a lane's claim
        comes back full (more may be ready), or ``idle_poll``, then claims again. A claim
        that comes back short has seen every ready job: waking the other lanes then
        would only send claims that find nothing.
        """
        if self._store_waiter.locked():
            woken = self._lanes_woken
            if woken is None:  # the first lane to wait for the waiter
                woken = self._lanes_woken = asyncio.get_running_loop().create_future()
            await asyncio.wait([woken], timeout=self.idle_poll)
            return []
        async with self._store_waiter:
            return await self.store.wait_for_work(
                self.queues, free, self.worker_id, self.lease,
                await self._idle_timeout(), generation,
            )  # fmt: skip

    def _wake_lanes(self) -> None:
        """Make the lanes that wait for the store's waiter claim again."""
        woken, self._lanes_woken = self._lanes_woken, None
        if woken is not None and not woken.done():
            woken.set_result(None)

    def _free_slots(self, lane: int, share: int) -> int:
        """Say how many jobs the lane (of ``share`` slots) is to claim now.

        A job frees its slot when its handler ends, not once its outcome is stored: the
        next claim goes out while the outcomes are written, instead of after them (a
        round trip less per batch of short jobs). Jobs still settling count against a
        second ``share``, so that a slow store can not make them pile up.
        """
        held = in_handler = 0
        for running in self._running.values():
            if running.lane == lane:
                held += 1
                in_handler += not running.settling
        return min(share - in_handler, 2 * share - held)

    async def _idle_timeout(self) -> float:
        try:
            due = await self.store.next_due(self.queues)
        except ConveyorError:
            return self.idle_poll
        if due is None:
            return self.idle_poll
        return min(max(due - self.store.clock.now(), 0.0), self.idle_poll)

    async def _release_unstarted(self, records: list[JobRecord]) -> None:
        outcomes = [Outcome(r.id, self.worker_id, r.attempts, JobStatus.PENDING) for r in records]
        if outcomes:
            await self.store.settle(outcomes)

    def _start(self, record: JobRecord, lane: int = 0) -> None:
        try:
            job = self.make_job(record)
        except SerializationError as exc:
            job = Job(record.id, record.name, record.queue, None, record.status, _bare(record))
            running = Running(job, record, settling=True, lane=lane)
            self._running[record.id] = running
            running.task = asyncio.create_task(self._attempts.fail_undecodable(running, exc))
            return
        running = Running(job, record, lane=lane)
        self._running[record.id] = running
        running.task = asyncio.create_task(
            self._attempts.run(running), name=f"conveyor-job-{record.id}"
        )

    # -- leases ------------------------------------------------------------------------

    async def _presence_loop(self) -> None:
        started = self.store.clock.now()
        while True:
            info = {
                "id": self.worker_id, "host": socket.gethostname(), "pid": os.getpid(),
                "queues": self.queues, "concurrency": self.concurrency,
                "started_at": started, "seen_at": self.store.clock.now(),
                "running": self.running_job_ids[:100],
            }  # fmt: skip
            try:
                await self.store.beat_worker(self.worker_id, json.dumps(info), PRESENCE_TTL)
            except ConveyorError as exc:
                log.debug("worker beat failed: %s", exc)
            await asyncio.sleep(PRESENCE_EVERY)

    async def _heartbeat_loop(self) -> None:
        interval = max(self.lease / 3, 0.05)
        while True:
            await asyncio.sleep(interval)
            held = list(self._running)
            if not held:
                continue
            try:
                renewal = await self.store.renew(held, self.worker_id, self.lease)
            except ConveyorError as exc:
                log.warning("heartbeat failed: %s", exc)
                continue
            for job_id in renewal.lost:
                running = self._running.get(job_id)
                if running is not None and running.task is not None and not running.settling:
                    log.warning("job %s: lease lost to another worker; stopping it", job_id)
                    running.lost = True
                    if running.interruptible:  # else it drops its outcome as it begins
                        running.task.cancel()
            for job_id in renewal.cancel_requested:
                self.cancel_local(job_id)
            await self._gates.slots.renew(self._running)

    async def _recovery_loop(self) -> None:
        interval = min(max(self.lease / 2, 0.05), 5.0)
        while True:
            try:
                recovered = await self.store.recover_expired()
            except ConveyorError as exc:
                log.warning("lease recovery failed: %s", exc)
                recovered = []
            if recovered:
                log.warning("requeued %d job(s) of workers that stopped renewing their lease:"
                            " %s", len(recovered), ", ".join(recovered[:10]))  # fmt: skip
            await asyncio.sleep(interval)


def _bare(record: JobRecord) -> JobConfig:
    return JobConfig(max_retries=record.max_retries, timeout=record.timeout)
