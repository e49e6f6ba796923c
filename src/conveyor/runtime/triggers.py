"""When a recurring schedule ticks: cron expressions in a time zone, and fixed intervals.

Ticks are whole milliseconds since the epoch (UTC). Cron expressions are parsed and
stepped by croniter over the zone's wall-clock time; this module turns those wall-clock
times into instants, with these rules where daylight saving time shifts the clock:

- a wall-clock time that does not exist (the hour skipped when clocks go forward)
  ticks once, at the moment the clock jumps (``30 2 * * *`` in Europe/Berlin runs at
  03:00 on the last Sunday of March);
- a wall-clock time that happens twice (the hour repeated when clocks go back) ticks
  once, at its first occurrence. A schedule that fires every hour or more often in a
  zone with DST therefore skips the repeated hour; schedule it in UTC (the default) or
  as an interval if it must keep an even pace through the night of the change.

An interval ticks at whole multiples of itself since 1970-01-01 00:00 UTC, so every
process computes the same ticks without talking to the others
(``timedelta(minutes=5)`` ticks at :00, :05, :10...).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import InvalidScheduleError

if TYPE_CHECKING:
    from croniter import croniter

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MIN_INTERVAL = timedelta(seconds=1)
_MS = 1000
_MICROSECOND = timedelta(microseconds=1)


class Trigger(Protocol):
    """The ticks of one schedule."""

    @property
    def description(self) -> str:
        """The schedule as written (an expression, or ``every <seconds>s``)."""
        ...

    def next_after(self, tick: int) -> int:
        """Return the first tick strictly after ``tick`` (epoch milliseconds)."""
        ...

    def latest_at_or_before(self, tick: int) -> int | None:
        """Return the last tick at or before ``tick``, if there is one."""
        ...


@dataclass(frozen=True, slots=True)
class IntervalTrigger:
    """Ticks every ``period`` milliseconds, aligned on the epoch."""

    period: int
    description: str

    def next_after(self, tick: int) -> int:
        """Return the next multiple of the period after ``tick``."""
        return (tick // self.period + 1) * self.period

    def latest_at_or_before(self, tick: int) -> int | None:
        """Return the multiple of the period at or before ``tick``."""
        return (tick // self.period) * self.period


class CronTrigger:
    """Ticks when a cron expression matches the wall-clock time of ``zone``."""

    def __init__(self, expression: str, zone: ZoneInfo) -> None:
        self.description = expression
        self.zone = zone
        fields = ALIASES.get(expression.strip().lower(), expression).split()
        if len(fields) not in (5, 6):
            raise InvalidScheduleError(
                f"cron expression {expression!r} has {len(fields)} field(s); give 5"
                " (minute hour day month weekday), 6 (seconds first) or an alias"
                f" ({', '.join(ALIASES)})"
            )
        self._expression = " ".join(fields)
        self._with_seconds = len(fields) == 6
        try:
            self._steps(datetime(2000, 1, 1))
        except (ValueError, KeyError) as exc:  # CroniterError is a ValueError
            raise InvalidScheduleError(f"invalid cron expression {expression!r}: {exc}") from None

    def _steps(self, start: datetime, backwards: bool = False) -> croniter:
        from croniter import croniter  # imported on first use: most queues have no cron

        return croniter(
            self._expression, start, is_prev=backwards, second_at_beginning=self._with_seconds
        )

    def next_after(self, tick: int) -> int:
        """Return the first tick after ``tick``.

        Raises :class:`InvalidScheduleError` for an expression that never matches
        (``0 0 30 2 *``).
        """
        wall = self._wall(tick)
        steps = self._steps(wall)
        try:
            while True:
                instant = self._instant(steps.get_next(datetime))
                if instant > tick:
                    return instant
        except ValueError as exc:  # croniter's CroniterBadDateError
            raise InvalidScheduleError(
                f"cron expression {self.description!r} never matches: {exc}"
            ) from None

    def latest_at_or_before(self, tick: int) -> int | None:
        """Return the last tick at or before ``tick`` (``None`` if it never matched)."""
        steps = self._steps(self._wall(tick) + _MICROSECOND, backwards=True)
        try:
            while True:
                instant = self._instant(steps.get_prev(datetime))
                if instant <= tick:
                    return instant
        except ValueError:  # croniter's CroniterBadDateError: it never matched
            return None

    def _wall(self, tick: int) -> datetime:
        """Return the naive wall-clock time of ``zone`` at ``tick``."""
        return datetime.fromtimestamp(tick / _MS, self.zone).replace(tzinfo=None)

    def _instant(self, wall: datetime) -> int:
        """Return a wall-clock time's tick: its first occurrence, or the end of its gap."""
        first = wall.replace(tzinfo=self.zone, fold=0)
        if first.astimezone(UTC).astimezone(self.zone).replace(tzinfo=None) == wall:
            return _ms(first)
        # Skipped by a forward jump: the earlier offset reads it after the jump, the
        # later one before; the jump itself lies between, found to the millisecond.
        after, before = _ms(first), _ms(wall.replace(tzinfo=self.zone, fold=1))
        low, high = min(before, after), max(before, after)
        while high - low > 1:
            middle = (low + high) // 2
            if self._wall(middle) >= wall:
                high = middle
            else:
                low = middle
        return high


def make_trigger(schedule: object, timezone: object) -> Trigger:
    """Check a schedule (cron expression, alias or ``timedelta``) and return its ticks.

    Raises :class:`InvalidScheduleError` naming what is wrong.
    """
    zone = check_zone(timezone)
    if isinstance(schedule, timedelta):
        if schedule < MIN_INTERVAL:
            raise InvalidScheduleError(
                f"an interval schedule must be at least {MIN_INTERVAL.total_seconds():g} s,"
                f" got {schedule.total_seconds():g} s"
            )
        period = int(schedule / timedelta(milliseconds=1))
        return IntervalTrigger(period, f"every {period / _MS:g}s")
    if not isinstance(schedule, str):
        raise InvalidScheduleError(
            f"schedule must be a cron expression (str) or a timedelta, got {schedule!r}"
        )
    return CronTrigger(schedule, zone)


def check_zone(timezone: object) -> ZoneInfo:
    """Return the ``ZoneInfo`` for a zone name (or a ``ZoneInfo``, or ``datetime.UTC``)."""
    if isinstance(timezone, ZoneInfo):
        return timezone
    if timezone is UTC:
        return ZoneInfo("UTC")
    if isinstance(timezone, tzinfo) or not isinstance(timezone, str) or not timezone:
        raise InvalidScheduleError(
            f"timezone must be an IANA zone name such as 'Europe/Paris', got {timezone!r}"
        )
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidScheduleError(
            f"unknown time zone {timezone!r}; use an IANA name such as 'Europe/Paris'"
        ) from None


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * _MS)
