"""An idle worker's claim that the server runs the moment a job is enqueued.

An idle worker sends, on a connection of its own, ``BLPOP`` of its queues' bells
(:meth:`.Keys.bell`) and the claim script right behind it. Redis runs a blocked
client's next command as soon as the block ends, so when an enqueue rings a bell the
claim runs on the server at once and both replies come back together: the job starts
without waiting for a pub/sub message, a thread's wake-up or a second round trip.

Work that becomes ready in other ways (a retry, a recovered lease, a delayed job whose
time came) still fires the store's change signal; the waiting worker then unblocks its
own connection (``CLIENT UNBLOCK``), which makes the queued claim run at once too, and
so does the end of the block's timeout. Either way the claim's reply is read, so jobs
it took are always handed to the worker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis.asyncio.connection import AbstractConnection
from redis.exceptions import RedisError, ResponseError

from ...errors import ConveyorError
from ..signals import ChangeSignal
from ._codec import Arg
from ._conn import Link, connect, raise_errors, take_idle
from ._packing import pack_command

log = logging.getLogger("conveyor.stores.redis")

_UNBLOCK_AGAIN = 0.002
"""Seconds before asking again when ``CLIENT UNBLOCK`` found the connection not blocked
(the ``BLPOP`` had not reached the server yet, or had just been served)."""
_UNBLOCK_TRIES = 500
"""At most this many ``CLIENT UNBLOCK`` a wait (a second's worth): a connection that stays
blocked past that is a dead one, which the read notices (TCP keepalive)."""
_READ_MARGIN = 1.0
"""Seconds past the block's own timeout before the worker unblocks it itself."""


class ArmedClaims:
    """One event loop's connections for blocking waits with a claim queued behind them.

    Each wait has a connection to itself (one per worker waiting at that moment); it
    goes back to the idle list after a wait that read both replies.
    """

    def __init__(self, make: Callable[[], AbstractConnection]) -> None:
        self._make = make
        self._idle: list[Link] = []
        self._busy: set[Any] = set()  # links in a wait, connections being made

    async def wait(
        self,
        bells: Sequence[str],
        timeout: float,
        claim: Sequence[Arg],
        changes: ChangeSignal,
        since: int,
        unblock: Callable[[int], Awaitable[Any]],
    ) -> Any:
        """Block on ``bells`` for up to ``timeout`` seconds, then run ``claim``; return its reply.

        ``claim`` is the script call (``EVALSHA ...``). A change after generation
        ``since`` ends the block early through ``unblock(client_id)``. An error reply
        of either command is raised once both replies were read.
        """
        link = take_idle(self._idle) or await self._connect()
        self._busy.add(link)
        commands = [("BLPOP", *bells, f"{timeout:.3f}"), tuple(claim)]
        packed = b"".join(pack_command(c) for c in commands)
        # The replies are read right here (the shortest path to a job's start); a change,
        # or the block outliving its timeout, starts the unblocking beside.
        assert link.client_id is not None
        unblocker = _Unblocker(link.client_id, unblock)
        with changes.watching(timeout + _READ_MARGIN, since) as changed:
            changed.add_done_callback(unblocker.start)
            try:
                replies = await link.send(packed, 2)
            except BaseException:
                # The replies may still be on their way: this connection is not used again.
                link.close()
                raise
            finally:
                unblocker.stop()
                self._busy.discard(link)
        self._idle.append(link)  # both replies were read
        for reply in replies:
            raise_errors(reply)
        return replies[1]

    async def _connect(self) -> Link:
        link = await connect(self._make, self._busy)
        client_id = await link.send(pack_command(("CLIENT", "ID")))
        try:
            link.client_id = int(raise_errors(client_id))
        except RedisError:  # an ACL without CLIENT, say
            link.close()
            raise
        return link

    def close(self) -> None:
        """Close every connection, those in a wait too (their waits raise)."""
        idle, self._idle = self._idle, []
        for link in [*self._busy, *idle]:
            if isinstance(link, Link):
                link.close()
            else:
                link._close()  # being made


class _Unblocker:
    """Ends a wait's block with ``CLIENT UNBLOCK``, again until it took, once started."""

    def __init__(self, client_id: int, unblock: Callable[[int], Awaitable[Any]]) -> None:
        self._client_id = client_id
        self._unblock = unblock
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    def start(self, changed: asyncio.Future[None]) -> None:
        """Begin unblocking (``changed`` fired or the block outlived its time), unless stopped."""
        if not self._stopped:
            self._task = asyncio.ensure_future(self._run())

    def stop(self) -> None:
        """Unblock no more: the replies came, or the wait failed."""
        self._stopped = True
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        try:
            for _ in range(_UNBLOCK_TRIES):  # the BLPOP may not have reached the server yet
                if self._stopped or await self._unblock(self._client_id):
                    return
                await asyncio.sleep(_UNBLOCK_AGAIN)
        except ConveyorError:
            pass  # an outage: the wait's own read fails too
        except ResponseError as exc:
            log.warning("cannot end an idle wait early (%s); it ends at its timeout", exc)
