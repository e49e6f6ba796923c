"""Recurring schedules: their definitions, and the loop that fires their ticks.

Every process that starts a queue with schedules runs a :class:`Scheduler`; there is no
leader to elect. Each tick is fired with one atomic compare-and-set on the store
(:meth:`~conveyor.stores.base.Coordination.fire_schedule`): the schedule moves from the tick
this process last saw to the new one and the tick's job is stored in the same step, so
of all the processes that reach a tick, exactly one creates its job, and a restart
cannot fire a tick twice (where a schedule stands lives in the store, not here).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from ..clock import Clock, to_datetime
from ..errors import BackendUnavailableError, InvalidScheduleError
from ..stores.base import Coordination
from ..stores.records import JobRecord, ScheduleRecord
from .tasks import Background
from .triggers import Trigger

log = logging.getLogger("conveyor.scheduler")

Missed = Literal["latest", "skip"] | int
MISSED_GRACE = 5.0
"""Seconds late a tick may be and still count as on time (for ``missed="skip"``)."""
RESYNC_EVERY = 5.0
"""Seconds between reads of every schedule's state (paused, resumed, removed, fired)."""
TOUCH_EVERY = 60.0
"""Seconds between registrations of the schedules in code (``seen_at``)."""
STALE_AFTER = 3600.0
"""A schedule no process registered for this long is shown as stale."""
PRUNE_AFTER = 7 * 86400.0
"""A schedule no process registered for this long is deleted."""
_MS = 1000


@dataclass(frozen=True, slots=True)
class Schedule:
    """A recurring job as registered in code with :meth:`Queue.cron`."""

    key: str
    name: str
    trigger: Trigger
    timezone: str
    payload: Any
    options: Mapping[str, Any]
    missed: Missed

    def spec(self) -> str:
        """Return the JSON the store keeps to describe it (for listings and the CLI)."""
        return json.dumps(
            {
                "name": self.name,
                "schedule": self.trigger.description,
                "timezone": self.timezone,
                "missed": self.missed,
            },
            separators=(",", ":"),
        )


def check_missed(missed: object) -> Missed:
    """Check the ``missed`` policy of a schedule."""
    if missed in ("latest", "skip"):
        return missed
    if isinstance(missed, int) and not isinstance(missed, bool) and missed >= 1:
        return missed
    raise InvalidScheduleError(
        f"missed must be 'latest', 'skip' or a whole number of ticks to catch up (1 or more),"
        f" got {missed!r}"
    )


@dataclass(frozen=True, slots=True)
class ScheduleInfo:
    """A schedule as the store knows it: what it is, when it runs next, how it last ran."""

    key: str
    """The schedule's name (by default its job name)."""
    name: str
    """The job it enqueues."""
    schedule: str
    """The cron expression, or ``every <seconds>s``."""
    timezone: str
    """The IANA time zone whose wall clock a cron expression reads."""
    next_run: datetime | None
    """The next tick, as the process that last fired or registered it computed it."""
    last_run: datetime | None
    """The tick of the latest job it enqueued."""
    last_job_id: str | None
    """The id of the latest job it enqueued."""
    paused: bool
    """True while paused (``queue.pause_schedule``): it fires no ticks."""
    last_seen: datetime
    """When a process that has it in its code last registered it."""
    stale: bool
    """No process has registered it for an hour: it was removed from the code."""
    missed: Missed = "latest"
    """What to do with ticks missed while no process ran: ``"latest"``, ``"skip"`` or N."""

    @classmethod
    def from_record(cls, record: ScheduleRecord, now: float) -> ScheduleInfo:
        """Describe a stored schedule."""
        spec = json.loads(record.spec)
        seen = to_datetime(record.seen_at)
        assert seen is not None
        return cls(
            key=record.key,
            name=str(spec.get("name", "")),
            schedule=str(spec.get("schedule", "")),
            timezone=str(spec.get("timezone", "UTC")),
            next_run=None if record.next_tick is None else to_datetime(record.next_tick / _MS),
            last_run=to_datetime(record.last_tick / _MS) if record.last_job_id else None,
            last_job_id=record.last_job_id,
            paused=record.paused,
            last_seen=seen,
            stale=now - record.seen_at > STALE_AFTER,
            missed=spec.get("missed", "latest"),
        )


@dataclass(slots=True)
class _State:
    last_tick: int
    next_tick: int | None
    paused: bool = False


JobMaker = Callable[[Schedule, Sequence[int]], list[JobRecord]]


class Scheduler:
    """Fires the ticks of one queue's schedules from this process.

    ``make_jobs(schedule, ticks)`` builds the jobs of ticks (epoch milliseconds);
    ``on_fired(records)`` is told of jobs this process created.
    """

    def __init__(
        self,
        store: Coordination,
        queue: str,
        schedules: Mapping[str, Schedule],
        make_jobs: JobMaker,
        on_fired: Callable[[Sequence[JobRecord]], None],
        clock: Clock | None = None,
    ) -> None:
        self.store = store
        self.queue = queue
        self.schedules = dict(schedules)
        self._make_jobs = make_jobs
        self._on_fired = on_fired
        self._clock = clock or store.clock
        self._states: dict[str, _State] = {}
        self._gone: set[str] = set()
        """Schedules removed from the store while this process runs: not registered again."""
        self._wake = asyncio.Event()
        self._loop = Background("scheduler", self._run)

    # -- running -----------------------------------------------------------------------

    def start(self) -> None:
        """Run the loop in a task of the running event loop."""
        self._loop.start()

    async def stop(self) -> None:
        """Stop the loop."""
        await self._loop.stop()

    async def _run(self) -> None:
        touch_at = resync_at = 0.0
        backoff = 0.1
        while True:
            try:
                now = self._clock.now()
                if now >= touch_at:
                    await self.register()
                    touch_at, resync_at = now + TOUCH_EVERY, now + RESYNC_EVERY
                elif now >= resync_at:
                    await self.resync()
                    resync_at = now + RESYNC_EVERY
                delay = await self.fire_due()
                backoff = 0.1
            except BackendUnavailableError as exc:
                log.warning("scheduler of %r: store unavailable (%s); retrying", self.queue, exc)
                delay, backoff = backoff, min(backoff * 2, 5.0)
            except Exception:
                log.exception("scheduler of %r failed; retrying", self.queue)
                delay, backoff = backoff, min(backoff * 2, 5.0)
            delay = min(delay, max(0.0, min(touch_at, resync_at) - self._clock.now()))
            await asyncio.sleep(delay)

    # -- one step each (the loop calls them; tests call them with a controlled clock) ---

    async def register(self) -> None:
        """Register this process's schedules on the store; learn where each one stands.

        A schedule new to the store starts at the current time: its first tick is the
        next one, not a past one. Schedules nobody registered for a week are deleted.
        """
        now = self._clock.now()
        now_tick = _tick(now)
        records, computed = [], {}
        for key, schedule in self.schedules.items():
            if key in self._gone:
                continue
            known = self._states.get(key)
            if known is not None:  # a schedule it follows already: nothing to compute
                last_tick, next_tick = known.last_tick, known.next_tick
            else:
                last_tick, next_tick = now_tick, schedule.trigger.next_after(now_tick)
            computed[key] = (last_tick, next_tick)
            records.append(
                ScheduleRecord(self.queue, key, schedule.spec(), now_tick, next_tick, now)
            )
        if records:
            self._learn(await self.store.save_schedules(records), complete=False, computed=computed)
        stored = await self.store.list_schedules(self.queue)
        self._learn(stored, complete=True)
        doomed = [s.key for s in stored if now - s.seen_at > PRUNE_AFTER]
        if doomed:
            log.info("deleting schedules nobody registered for a week: %s", ", ".join(doomed))
            await self.store.remove_schedules(self.queue, doomed)

    async def resync(self) -> None:
        """Read where every schedule stands (another process may have fired or paused it)."""
        self._learn(await self.store.list_schedules(self.queue), complete=True)

    def _learn(
        self,
        records: Sequence[ScheduleRecord],
        *,
        complete: bool,
        computed: Mapping[str, tuple[int, int | None]] | None = None,
    ) -> None:
        """Take the stored state of schedules; ``computed``: next ticks known per last tick.

        With ``complete``, ``records`` are all there are: the others were removed.
        """
        seen = set()
        for record in records:
            schedule = self.schedules.get(record.key)
            if schedule is None:
                continue
            seen.add(record.key)
            state = self._states.get(record.key)
            if state is None or state.last_tick != record.last_tick:
                last_tick, next_tick = (computed or {}).get(record.key, (None, None))
                if last_tick != record.last_tick:  # croniter costs ~0.1 ms a call
                    next_tick = schedule.trigger.next_after(record.last_tick)
                self._states[record.key] = _State(record.last_tick, next_tick, record.paused)
            else:
                state.paused = record.paused
        if complete:
            for key in set(self._states) - seen:
                log.info("schedule %r of %r was removed; it no longer fires", key, self.queue)
                del self._states[key]
                self._gone.add(key)

    async def fire_due(self) -> float:
        """Fire every schedule whose tick has come; return seconds until the next one."""
        now_tick = _tick(self._clock.now())
        due = [
            (self.schedules[key], state)
            for key, state in self._states.items()
            if not state.paused and state.next_tick is not None and state.next_tick <= now_tick
        ]
        # Ticks due together are fired together: on a store a round trip away, one
        # after the other would make the last of them late by all the others' trips.
        fired = await asyncio.gather(
            *(self._fire(schedule, state, now_tick) for schedule, state in due),
            return_exceptions=True,
        )
        if any(not ok for ok in fired):
            await self.resync()  # another process fired first, or it was paused or removed
        for result in fired:
            if isinstance(result, BaseException):
                raise result
        soonest = self.next_tick()
        if soonest is None:
            return math.inf
        return max(0.0, (soonest - _tick(self._clock.now())) / _MS)

    def next_tick(self) -> int | None:
        """Return the soonest tick (epoch milliseconds) of the schedules not paused."""
        ticks = [s.next_tick for s in self._states.values() if not s.paused]
        return min((tick for tick in ticks if tick is not None), default=None)

    async def _fire(self, schedule: Schedule, state: _State, now_tick: int) -> bool:
        """Fire the schedule's due tick(s); False if the store refused (look again)."""
        trigger = schedule.trigger
        latest = trigger.latest_at_or_before(now_tick)
        if latest is None or latest <= state.last_tick:
            state.next_tick = trigger.next_after(max(state.last_tick, now_tick))
            return True
        ticks = self._ticks_to_run(schedule, state.last_tick, latest, now_tick)
        records = self._make_jobs(schedule, ticks) if ticks else []
        next_tick = trigger.next_after(latest)
        fired = await self.store.fire_schedule(
            self.queue, schedule.key, state.last_tick, latest, next_tick, records
        )
        if fired:
            state.last_tick, state.next_tick = latest, next_tick
            if records:
                log.info(
                    "schedule %r fired %d job(s) for %s", schedule.key, len(records),
                    ", ".join(str(to_datetime(t / _MS)) for t in ticks),
                )  # fmt: skip
                self._on_fired(records)
            elif ticks != [latest]:
                log.info("schedule %r passed over missed tick(s) up to %s", schedule.key,
                         to_datetime(latest / _MS))  # fmt: skip
        return fired

    @staticmethod
    def _ticks_to_run(schedule: Schedule, last: int, latest: int, now_tick: int) -> list[int]:
        """Return the ticks after ``last`` up to ``latest`` that get a job (missed policy)."""
        missed = schedule.missed
        if missed == "latest":
            return [latest]
        if missed == "skip":
            return [latest] if now_tick - latest <= MISSED_GRACE * _MS else []
        ticks = [latest]
        while len(ticks) < missed:
            earlier = schedule.trigger.latest_at_or_before(ticks[-1] - 1)
            if earlier is None or earlier <= last:
                break
            ticks.append(earlier)
        return ticks[::-1]


def _tick(seconds: float) -> int:
    return math.floor(seconds * _MS)
