"""The memory store's state: its dictionaries and heaps, and the lock that guards them."""

from __future__ import annotations

import heapq
import threading
from collections import defaultdict

from ...clock import Clock, SystemClock
from ...job import JobStatus
from ..channel import RemoteEvents
from ..records import JobRecord, ScheduleRecord
from ..signals import ChangeSignal


class MemoryState:
    """The jobs, slots, rates, schedules and workers of one memory store, under one lock."""

    def __init__(self, url: str = "memory://", clock: Clock | None = None) -> None:
        self.url = url
        self.clock: Clock = clock or SystemClock()
        self.changes = ChangeSignal()
        self.remote_events = RemoteEvents()
        self._lock = threading.Lock()
        self._jobs: dict[str, JobRecord] = {}
        self._keys: dict[tuple[str, str | None], str] = {}
        """The job that last took each (queue, unique key)."""
        self._slots: dict[str, dict[str, float]] = defaultdict(dict)
        """Concurrency slots: bucket -> holder -> until when."""
        self._rates: dict[str, float] = {}
        """Rate limits: bucket -> when its next start is due."""
        self._ready: dict[str, list[tuple[int, float, str]]] = defaultdict(list)
        self._delayed: dict[str, list[tuple[float, str]]] = defaultdict(list)
        self._schedules: dict[tuple[str, str], ScheduleRecord] = {}
        self._workers: dict[str, tuple[float, str]] = {}

    async def open(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Nothing to close; the jobs stay for as long as the object lives."""

    def _index(self, record: JobRecord) -> None:
        if record.status is JobStatus.PENDING:
            heapq.heappush(self._ready[record.queue], (-record.priority, record.run_at, record.id))
        elif record.status is JobStatus.SCHEDULED:
            heapq.heappush(self._delayed[record.queue], (record.run_at, record.id))
