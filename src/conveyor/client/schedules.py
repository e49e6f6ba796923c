"""A queue's recurring schedules: registered in code, checked at once, steered on the store.

:class:`Schedules` holds what ``queue.cron(...)`` registered (every mistake is raised
there, not at the first tick) and reads, pauses, resumes and removes the schedules the
store keeps. The runtime's :class:`~conveyor.runtime.scheduler.Scheduler` fires them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any, Protocol, Self

from ..definitions.handlers import HandlerRegistry
from ..definitions.options import check_name, check_options
from ..errors import InvalidScheduleError, ScheduleNotFoundError, UnknownJobError
from ..runtime.scheduler import Schedule, ScheduleInfo, check_missed
from ..runtime.triggers import make_trigger
from ..serializers import Serializer
from ..stores import Coordination


class Owner(Protocol):
    """What the schedules read of their queue."""

    @property
    def name(self) -> str:
        """The queue's name."""
        ...

    @property
    def store(self) -> Coordination:
        """The queue's store (read on each use: :meth:`Queue.point_at` may change it)."""
        ...

    handlers: HandlerRegistry
    serializer: Serializer


class Schedules(Mapping[str, Schedule]):
    """The recurring schedules registered on one queue object, by key."""

    def __init__(self, owner: Owner) -> None:
        self._owner = owner
        self._schedules: dict[str, Schedule] = {}
        self.frozen = False
        """Set once the queue started: schedules are registered before."""

    def __getitem__(self, key: str) -> Schedule:
        return self._schedules[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._schedules)

    def __len__(self) -> int:
        return len(self._schedules)

    def add(
        self,
        name: str,
        schedule: str | timedelta,
        payload: Any,
        *,
        timezone: str,
        key: str | None,
        missed: str | int,
        config: dict[str, Any],
    ) -> None:
        """Register a schedule, as :meth:`Queue.cron <conveyor.Queue.cron>` documents."""
        owner = self._owner
        check_name(name)
        where = f"schedule {key or name!r}"
        if owner.handlers.get(name) is None:
            raise UnknownJobError(
                f"{where}: no handler registered for job name {name!r}; register it before"
                " scheduling it"
            )
        key = name if key is None else key
        if not isinstance(key, str) or not key:
            raise InvalidScheduleError(f"key must be a non-empty string, got {key!r}")
        if key in self._schedules:
            raise InvalidScheduleError(f"a schedule named {key!r} is already registered")
        if self.frozen:
            raise InvalidScheduleError(f"{where}: register schedules before start()")
        for option in ("scheduled_at", "delay"):
            if option in config:
                raise InvalidScheduleError(f"{where}: {option} is set by each tick, not given")
        trigger = make_trigger(schedule, timezone)
        trigger.next_after(int(owner.store.clock.now() * 1000))  # one that never matches
        owner.serializer.dumps(payload)
        check_options(dict(config), where=where, allow_callable=False)
        self._schedules[key] = Schedule(
            key=key,
            name=name,
            trigger=trigger,
            timezone=str(timezone),
            payload=payload,
            options=dict(config),
            missed=check_missed(missed),
        )

    async def infos(self) -> list[ScheduleInfo]:
        """Read the queue's schedules as stored: next and last run, paused, stale."""
        store = self._owner.store
        now = store.clock.now()
        records = await store.list_schedules(self._owner.name)
        return [ScheduleInfo.from_record(record, now) for record in records]

    async def set_paused(self, key: str, paused: bool) -> None:
        """Pause or resume a schedule in every process; raise if there is none."""
        store, queue = self._owner.store, self._owner.name
        now_tick = int(store.clock.now() * 1000)
        if not await store.pause_schedule(queue, key, paused, now_tick):
            raise ScheduleNotFoundError(f"queue {queue!r} has no schedule {key!r}")

    async def remove(self, key: str) -> None:
        """Delete a schedule from the store; raise if there is none."""
        store, queue = self._owner.store, self._owner.name
        if not await store.remove_schedules(queue, [key]):
            raise ScheduleNotFoundError(f"queue {queue!r} has no schedule {key!r}")


class ScheduleVerbs:
    """The facade's methods for recurring schedules (:class:`Queue` has them)."""

    _schedules: Schedules

    def cron(
        self,
        /,
        name: str,
        schedule: str | timedelta,
        payload: Any = None,
        *,
        timezone: str = "UTC",
        key: str | None = None,
        missed: str | int = "latest",
        **config: Any,
    ) -> Self:
        """Enqueue ``name`` at every tick of ``schedule``; returns the queue (chainable).

        ``schedule`` is a 5-field cron expression (``"0 3 * * *"``), a 6-field one with
        seconds first, an alias (``@hourly``, ``@daily``, ``@weekly``, ``@monthly``,
        ``@yearly``) or a ``timedelta`` interval (at least 1 s). Expressions read the
        wall clock of ``timezone`` (an IANA name). However many processes run the
        queue, each tick enqueues exactly one job, whose ``config.scheduled_at`` is the
        tick's time. ``missed``: after downtime, ``"latest"`` runs the most recent
        missed tick once, ``"skip"`` runs none, a number N runs up to the N most recent.
        ``key`` names the schedule (default: ``name``), to give one job several
        schedules. ``config``: job options, as for :meth:`~conveyor.Queue.enqueue`. The
        handler must be registered first; every mistake is raised here, not at the first
        tick. Schedules fire in processes that :meth:`~conveyor.Queue.start` the queue.
        """
        self._schedules.add(name, schedule, payload, timezone=timezone, key=key, missed=missed,
                            config=config)  # fmt: skip
        return self

    async def get_schedules(self) -> list[ScheduleInfo]:
        """List this queue's schedules as stored: next and last run, paused, stale."""
        return await self._schedules.infos()

    async def pause_schedule(self, key: str) -> None:
        """Stop a schedule from firing, in every process, until it is resumed."""
        await self._schedules.set_paused(key, True)

    async def resume_schedule(self, key: str) -> None:
        """Let a paused schedule fire again, from its next tick (missed ones are skipped)."""
        await self._schedules.set_paused(key, False)

    async def remove_schedule(self, key: str) -> None:
        """Delete a schedule from the store; running processes stop firing it.

        A process that starts with the schedule still in its code registers it again:
        delete it from the code as well.
        """
        await self._schedules.remove(key)
