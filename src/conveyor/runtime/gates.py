"""Start gates: the checks a claimed job passes, one after the other, before it runs.

Each gate says :data:`GO`, or postpone the job (put it back for some seconds, its
attempt given back), or end it unrun with an outcome; the first gate that does not say
go decides, and the gates after it are not asked. A worker builds its gates once
(:class:`StartGates`), in this order:

1. :class:`Dependencies`: the jobs it depends on are done (else it waits for them, or
   is cancelled if one of them can never complete);
2. :class:`RateLimit`: a start of its handler's ``rate_limit`` is due;
3. :class:`ConcurrencySlot`: a slot of its handler's ``concurrency`` is free. The job
   holds the slot while its handler runs, renewed with its lease, and gives it back as
   its outcome is stored.

A gate that is cancelled (the worker stops, the job's lease was lost) lets the
:class:`asyncio.CancelledError` through: the attempt puts the job back.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..definitions import dependencies
from ..definitions.dependencies import DEPENDS_ON
from ..definitions.handlers import Handler
from ..errors import ConveyorError
from ..job import Job
from ..serializers import Serializer
from ..stores.base import Store
from ..stores.records import Outcome
from .outcomes import Outcomes, Running

log = logging.getLogger("conveyor.worker")

SLOT_WAIT = (0.1, 0.5)
"""Seconds (from, to: chosen at random) a job waits when its concurrency limit is full."""


@dataclass(frozen=True, slots=True)
class GateVerdict:
    """What a start gate says of a claimed job: :data:`GO`, or why it does not start now."""

    wait: float | None = None
    """Put the job back for this many seconds, its attempt given back."""
    outcome: Outcome | None = None
    """End the attempt unrun with this outcome."""


GO = GateVerdict()
"""The verdict of a gate that lets the job start."""


class StartGate(Protocol):
    """One check a claimed job passes before its handler runs."""

    async def check(self, running: Running) -> GateVerdict:
        """Say whether the job may start now (:data:`GO`), or what to do with it instead."""
        ...


class Dependencies:
    """Lets a job start once the jobs it depends on are done (``definitions/dependencies``).

    The results of those jobs become its payload, when it asked for them.
    """

    def __init__(self, store: Store, serializer: Serializer, outcomes: Outcomes) -> None:
        self._store = store
        self._loads = serializer.loads
        self._outcomes = outcomes

    async def check(self, running: Running) -> GateVerdict:
        """Go when every dependency completed; wait while one may still; else cancel."""
        job = running.job
        if DEPENDS_ON not in job.headers:
            return GO
        waited = self._store.clock.now() - running.record.created_at
        try:
            verdict = await dependencies.check(self._store, job.headers, waited, self._loads)
        except ConveyorError as exc:  # the store is out of reach, or a result unreadable
            log.warning("job %s: could not look at its dependencies: %s", job.id, exc)
            verdict = dependencies.Verdict(wait=dependencies.MOST_WAIT)
        if verdict.results is not None:
            job.payload = verdict.results
        if verdict.broken is not None:
            return GateVerdict(outcome=self._outcomes.not_run(running, verdict.broken))
        if verdict.wait is not None:
            return GateVerdict(wait=verdict.wait)
        return GO


class HandlerLimit:
    """What the rate and concurrency gates share: a limit of the job's handler.

    The store keeps the limit per bucket: the job's queue and name, and what the
    handler's key function makes of its payload. A key function that raises fails the
    attempt (even with a ``ConveyorError``); a store out of reach postpones the job
    (:meth:`unreachable`).
    """

    taking = "its limit"
    """What the gate takes, for the warning when the store is out of reach."""

    def __init__(self, store: Store, handlers: Mapping[str, Handler], outcomes: Outcomes) -> None:
        self._store = store
        self._handlers = handlers
        self._outcomes = outcomes

    async def check(self, running: Running) -> GateVerdict:
        """Go if the handler has no such limit; else take from it (:meth:`take`)."""
        job = running.job
        handler = self._handlers.get(job.name)
        if handler is None or not self.limits(handler):
            return GO
        try:
            bucket = _bucket(job, self.key_of(handler))
        except Exception as exc:  # the handler's key function raised: a failed attempt
            return GateVerdict(outcome=self._outcomes.failure(job, running.record, exc))
        try:
            return await self.take(running, bucket, handler)
        except ConveyorError as exc:
            log.warning("job %s: could not take %s: %s", job.id, self.taking, exc)
            return self.unreachable(handler)

    def limits(self, handler: Handler) -> bool:
        """Say whether ``handler`` has this limit."""
        raise NotImplementedError

    def key_of(self, handler: Handler) -> Callable[[Any], str] | None:
        """Return the handler's key function of this limit, if any."""
        raise NotImplementedError

    async def take(self, running: Running, bucket: str, handler: Handler) -> GateVerdict:
        """Take from the limit of ``bucket`` on the store; say go, or how long to wait."""
        raise NotImplementedError

    def unreachable(self, handler: Handler) -> GateVerdict:
        """Return the verdict when the store is out of reach: wait, then try again."""
        raise NotImplementedError


class RateLimit(HandlerLimit):
    """Lets a job start once a start of its handler's ``rate_limit`` is due (store-wide)."""

    taking = "a start of its rate limit"

    def limits(self, handler: Handler) -> bool:
        """Say whether ``handler`` has a ``rate_limit``."""
        return handler.rate_limit is not None

    def key_of(self, handler: Handler) -> Callable[[Any], str] | None:
        """Return the handler's ``rate_key``."""
        return handler.rate_key

    async def take(self, running: Running, bucket: str, handler: Handler) -> GateVerdict:
        """Take a start of the limit; if none is due yet, wait until the next one is."""
        wait = await self._store.take_start(bucket, _interval(handler))
        return GateVerdict(wait=wait) if wait > 0 else GO

    def unreachable(self, handler: Handler) -> GateVerdict:
        """Wait one interval of the limit."""
        return GateVerdict(wait=_interval(handler))


class ConcurrencySlot(HandlerLimit):
    """Lets a job start once it holds a slot of its handler's ``concurrency`` (store-wide).

    The job holds the slot (:attr:`Running.slot`) while its handler runs: the worker
    keeps it for another lease at each heartbeat (:meth:`renew`), and the attempt gives
    it back once the handler is over (:meth:`release`).
    """

    taking = "a concurrency slot"

    def __init__(
        self, store: Store, handlers: Mapping[str, Handler], outcomes: Outcomes, lease: float
    ) -> None:
        super().__init__(store, handlers, outcomes)
        self._lease = lease

    def limits(self, handler: Handler) -> bool:
        """Say whether ``handler`` has a ``concurrency`` limit."""
        return handler.concurrency is not None

    def key_of(self, handler: Handler) -> Callable[[Any], str] | None:
        """Return the handler's ``concurrency_key``."""
        return handler.concurrency_key

    async def take(self, running: Running, bucket: str, handler: Handler) -> GateVerdict:
        """Take a slot of the limit; if none is free, wait a little (:data:`SLOT_WAIT`)."""
        limit = handler.concurrency or 0
        if not await self._store.acquire_slot(bucket, limit, running.job.id, self._lease):
            return self.unreachable(handler)
        running.slot = (bucket, limit)
        return GO

    def unreachable(self, handler: Handler) -> GateVerdict:
        """Wait a little (:data:`SLOT_WAIT`)."""
        return GateVerdict(wait=random.uniform(*SLOT_WAIT))

    async def release(self, running: Running) -> None:
        """Give back the job's slot, if it holds one.

        If the store is out of reach, the slot runs out with the lease.
        """
        slot, running.slot = running.slot, None
        if slot is not None:
            with contextlib.suppress(ConveyorError):
                await self._store.release_slot(slot[0], running.job.id)

    async def renew(self, held: Mapping[str, Running]) -> None:
        """Keep the slots of the jobs in ``held`` whose handlers run for another lease."""
        for job_id, running in list(held.items()):
            if running.slot is None or running.settling:
                continue
            bucket, limit = running.slot
            try:
                kept = await self._store.acquire_slot(bucket, limit, job_id, self._lease)
            except ConveyorError as exc:
                log.warning("job %s: could not renew its concurrency slot: %s", job_id, exc)
                continue
            if not kept:
                log.warning("job %s: its concurrency slot of %s ran out and was taken", job_id,
                            bucket)  # fmt: skip


class StartGates:
    """One worker's start gates, built once, in the order of the module docstring."""

    def __init__(
        self,
        store: Store,
        handlers: Mapping[str, Handler],
        serializer: Serializer,
        outcomes: Outcomes,
        lease: float,
    ) -> None:
        self.slots = ConcurrencySlot(store, handlers, outcomes, lease)
        """The concurrency gate, which the worker renews and the attempt releases."""
        self.in_order: tuple[StartGate, ...] = (
            Dependencies(store, serializer, outcomes),
            RateLimit(store, handlers, outcomes),
            self.slots,
        )
        """Every gate, in the order a job passes them."""


def _interval(handler: Handler) -> float:
    """Return the seconds between two starts of the handler's ``rate_limit``."""
    count, period = handler.rate_limit or (1, 0.0)
    return period / count


def _bucket(job: Job, key: Callable[[Any], str] | None) -> str:
    """Return the limit bucket of a job: its queue and name, and its key if any."""
    bucket = f"{job.queue}:{job.name}"
    return bucket if key is None else f"{bucket}:{key(job.payload)}"
