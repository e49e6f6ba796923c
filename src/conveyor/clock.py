"""The one place conveyor reads the current time.

Stores and workers take a :class:`Clock` so that tests can pin time (``FrozenClock``)
and stores with a clock of their own can use it. Times inside conveyor are epoch
seconds (``float``); the public :class:`~conveyor.Job` shows them as aware ``datetime``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Something that tells the time in epoch seconds."""

    def now(self) -> float:
        """Return the current time in seconds since the epoch."""
        ...


class SystemClock:
    """The machine's wall clock."""

    def now(self) -> float:
        """Return ``time.time()``."""
        return time.time()


class ServerClock:
    """The machine's clock corrected to a store server's clock (Redis ``TIME``, ``now()``).

    A shared store measures the offset between this machine and its server when it
    connects (and now and then after), so that due times and lease deadlines computed
    here agree with the ones the server computes, whatever the skew between machines.
    """

    def __init__(self) -> None:
        self.offset = 0.0
        """Seconds to add to this machine's clock to get the server's."""

    def now(self) -> float:
        """Return the server's time as this machine estimates it."""
        return time.time() + self.offset

    def calibrate(self, server_time: float, sent: float, received: float) -> None:
        """Set the offset from a server time read between local ``sent`` and ``received``."""
        self.offset = server_time - (sent + received) / 2


class FrozenClock:
    """A clock that moves only when told to; for tests of delays and retries."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start

    def now(self) -> float:
        """Return the pinned time."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        self._now += seconds


def to_datetime(epoch: float | None) -> datetime | None:
    """Turn epoch seconds into an aware UTC ``datetime`` (``None`` stays ``None``)."""
    return None if epoch is None else datetime.fromtimestamp(epoch, tz=UTC)
