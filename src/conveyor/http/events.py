"""Server-sent events of job lifecycle events, resumable with ``Last-Event-ID``.

One :class:`EventHub` per app listens to the queue's job events (on Redis and
PostgreSQL those of every process) and keeps the last :data:`REPLAY` of them, each with
an increasing id. A client that reconnects with ``Last-Event-ID`` first gets the events
it missed that are still kept, then live ones. A client too slow to keep up (its
buffer of :data:`CLIENT_BUFFER` events full) is disconnected, never the server slowed.
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from .. import events
from ..client.queue import Queue
from ..job import Job

REPLAY = 1000
CLIENT_BUFFER = 1000
KEEP_ALIVE = 15.0
JOB_EVENTS = (events.JOB_ADDED, events.JOB_STARTED, events.JOB_PROGRESS, events.JOB_COMPLETED,
              events.JOB_FAILED, events.JOB_RETRYING, events.JOB_CANCELLED)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Event:
    """One event as sent: its id, name and JSON data."""

    id: int
    name: str
    job_id: str
    data: str

    def encode(self) -> str:
        """Return the event in the ``text/event-stream`` format."""
        return f"id: {self.id}\nevent: {self.name}\ndata: {self.data}\n\n"


@dataclass(slots=True)
class _Client:
    loop: asyncio.AbstractEventLoop
    inbox: asyncio.Queue[Event | None]
    job_id: str | None


class EventHub:
    """Fans the queue's job events out to SSE clients; keeps a window for replay."""

    def __init__(self, queue: Queue) -> None:
        self._queue = queue
        self._lock = threading.Lock()
        self._recent: deque[Event] = deque(maxlen=REPLAY)
        self._clients: list[_Client] = []
        self._next_id = 1
        self._listening = False

    def _listen(self) -> None:
        if not self._listening:
            self._listening = True
            for name in JOB_EVENTS:
                self._queue.on(name, functools.partial(self._publish, name))

    def _publish(self, name: str, job: Job) -> None:
        data = {"id": job.id, "name": job.name, "queue": job.queue, "status": job.status.value,
                "attempts": job.attempts, "progress_percent": job.progress_percent,
                "progress_message": job.progress_message, "error": job.error}  # fmt: skip
        with self._lock:
            event = Event(self._next_id, name, job.id, json.dumps(data, default=str))
            self._next_id += 1
            self._recent.append(event)
            clients = list(self._clients)
        for client in clients:
            if client.job_id is None or client.job_id == event.job_id:
                client.loop.call_soon_threadsafe(_offer, client.inbox, event)

    async def stream(self, last_event_id: int | None, job_id: str | None) -> AsyncIterator[str]:
        """Yield the missed events after ``last_event_id`` (still kept), then live ones."""
        self._listen()
        client = _Client(asyncio.get_running_loop(), asyncio.Queue(CLIENT_BUFFER), job_id)
        with self._lock:
            missed = [e for e in self._recent if last_event_id is not None and e.id > last_event_id]
            self._clients.append(client)
        try:
            yield "retry: 1000\n\n"
            for event in missed:
                if job_id is None or event.job_id == job_id:
                    yield event.encode()
            while True:
                try:
                    async with asyncio.timeout(KEEP_ALIVE):
                        item = await client.inbox.get()
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if item is None:
                    return  # too slow: disconnected
                yield item.encode()
        finally:
            with self._lock:
                self._clients.remove(client)


def _offer(inbox: asyncio.Queue[Event | None], event: Event) -> None:
    try:
        inbox.put_nowait(event)
    except asyncio.QueueFull:
        while not inbox.empty():
            inbox.get_nowait()
        inbox.put_nowait(None)


def parse_last_event_id(value: Any) -> int | None:
    """Read a ``Last-Event-ID`` header (anything not a number: none)."""
    return int(value) if isinstance(value, str) and value.isdigit() else None
