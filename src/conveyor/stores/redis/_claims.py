"""A worker's claims and settles on Redis: each one script call for many jobs.

The outcomes of one event loop's jobs are coalesced (:mod:`.._coalesce`): those that
finish together go to the server in one ``settle.lua`` call. A claim takes the outcomes
that wait to be sent and sends them in front of itself, in the same write (a pipeline
of two scripts): the jobs of a claimed batch finish, then one send settles them and
claims the next batch. An idle worker blocks on its queues' bells with a claim queued
behind (:mod:`._armed`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from redis.exceptions import NoScriptError, RedisError, ResponseError

from ...clock import Clock
from .._coalesce import Coalescer, Waiting
from ..loops import PerLoop
from ..records import JobRecord, Outcome
from ..signals import ClaimsAfterWaking
from . import _scripts as lua
from ._codec import Arg, decode_claimed, outcome_args
from ._coordination import RedisCoordination
from ._plumbing import UNAVAILABLE

log = logging.getLogger("conveyor.stores.redis")

_ARM_AT_LEAST = 0.01
"""Seconds of waiting below which an idle worker waits for the change signal only."""


class RedisClaims(RedisCoordination, ClaimsAfterWaking):
    """Claims, settles and the idle wait of the Redis store (see the module docstring)."""

    def __init__(self, url: str, clock: Clock | None = None) -> None:
        super().__init__(url, clock)
        self._settlers = PerLoop(lambda: Coalescer(self._settle_now))
        self._claimed_last = False

    async def claim(
        self, queues: Sequence[str], limit: int, worker_id: str, lease: float
    ) -> list[JobRecord]:
        """Claim up to ``limit`` ready jobs in one script call."""
        if limit <= 0 or not queues:
            return []
        claim = self._claim_args(queues, limit, worker_id, lease)
        settlers = self._settlers.get()
        if waiting := settlers.take():
            # Outcomes not sent yet go in the claim's send (the jobs that made them began).
            # A second settle path, kept for speed: bench/shortcuts.py settles-with-claims
            # (a worker's drain on Redis +28 %).
            return await self._settle_and_claim(settlers, waiting, claim)
        if self._claimed_last:
            # A worker claims again as soon as it started what it claimed: let those
            # jobs begin first (one turn of the loop) rather than after this call is sent.
            await asyncio.sleep(0)
        rows = await self._run(lua.CLAIM, claim)
        return self._claimed(rows)

    async def _settle_and_claim(
        self,
        settlers: Coalescer[Outcome, bool],
        waiting: list[Waiting[Outcome, bool]],
        claim: list[Arg],
    ) -> list[JobRecord]:
        """Apply the ``waiting`` settles and claim, both in one send (settles first)."""
        outcomes = [outcome for items, _ in waiting for outcome in items]
        try:
            applied, rows = await self._run_both(
                (lua.SETTLE, self._settle_args(outcomes)), (lua.CLAIM, claim)
            )
        except Exception as exc:
            settlers.fail(waiting, exc)
            raise
        except BaseException:
            settlers.give_back(waiting)  # cancelled: the settles may not have been sent
            raise
        if isinstance(applied, BaseException):
            settlers.fail(waiting, applied)
        else:
            settlers.answer(waiting, self._settled(applied))
        if isinstance(rows, BaseException):
            raise rows
        return self._claimed(rows)

    def _claim_args(
        self, queues: Sequence[str], limit: int, worker_id: str, lease: float
    ) -> list[Arg]:
        """``claim.lua``'s arguments."""
        return [self._origin, worker_id, lease, limit, *queues]

    def _claimed(self, rows: list[list[Any]]) -> list[JobRecord]:
        """Turn ``claim.lua``'s reply into jobs (and note whether it took any)."""
        self._claimed_last = bool(rows)
        return [decode_claimed(row) for row in rows]

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
        except UNAVAILABLE as exc:
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

    async def settle(self, outcomes: Sequence[Outcome]) -> list[bool]:
        """Apply outcomes, each only if its worker still owns the attempt.

        Settles made at the same time in one event loop (a worker's jobs finishing
        together) go to the server in one script call.
        """
        if not outcomes:
            return []
        return await self._settlers.get().submit(outcomes)

    async def _settle_now(self, outcomes: list[Outcome]) -> list[bool]:
        return self._settled(await self._run(lua.SETTLE, self._settle_args(outcomes)))

    def _settled(self, applied: list[int]) -> list[bool]:
        """Turn ``settle.lua``'s reply into one flag an outcome; wake this process's waiters."""
        self.changes.fire()
        return [bool(flag) for flag in applied]

    def _settle_args(self, outcomes: list[Outcome]) -> list[Arg]:
        """``settle.lua``'s arguments."""
        args: list[Arg] = [self._origin]
        for outcome in outcomes:
            args += outcome_args(outcome)
        return args

    async def _run_both(
        self, first: tuple[lua.Script, list[Arg]], second: tuple[lua.Script, list[Arg]]
    ) -> tuple[Any, Any]:
        """Run two scripts in one send, ``first`` first; return each one's reply or error.

        Each reply is what :meth:`_run` would return, or the exception it would raise
        (as a value: the other script may have run). A script the server answers
        NOSCRIPT or MOVED for runs again on its own (:meth:`_run`); a connection that
        fails fails both.
        """
        client = self._client_if_ready() or await self._client()
        tag = self.keys.tag
        calls = (first, second)
        try:
            replies = await client.execute_many(
                [("EVALSHA", script.sha, 1, tag, *args) for script, args in calls]
            )
        except UNAVAILABLE as exc:
            raise self._unavailable(exc) from None
        for index, reply in enumerate(replies):
            if isinstance(reply, ResponseError):
                replies[index] = await self._rerun(calls[index], reply)
            elif isinstance(reply, RedisError):  # -LOADING: redis-py's is a ConnectionError
                replies[index] = self._unavailable(reply)
        return replies[0], replies[1]

    async def _rerun(self, call: tuple[lua.Script, list[Arg]], refused: ResponseError) -> Any:
        """Return what :meth:`_run` makes of a script refused with ``refused`` in a pair."""
        try:
            if not isinstance(refused, NoScriptError) and not self._retry_elsewhere(refused):
                return refused
            return await self._run(*call)
        except Exception as exc:
            return exc
