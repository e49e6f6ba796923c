"""The event channel: job events that one process's store publishes to the others."""

from __future__ import annotations

import json
import json.encoder
import logging
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

log = logging.getLogger("conveyor.stores")


@dataclass(frozen=True, slots=True)
class StoreEvent:
    """One job lifecycle event as a shared store publishes it to every process.

    ``event`` is a public event name (``job:completed``...) or an internal one that
    only wakes workers (``job:released``, ``job:postponed``, ``job:recovered``,
    ``job:requeued``).
    """

    event: str
    job_id: str
    queue: str


quote_json: Callable[[str], str] = json.encoder.encode_basestring_ascii
"""A string as JSON, exactly as ``json.dumps`` spells it (non-ASCII escaped)."""


def encode_events(origin: str, events: Iterable[StoreEvent]) -> str:
    """Encode a batch of events for a pub/sub message: compact JSON.

    ``{"o": origin, "e": [[event, job_id, queue], ...]}`` -- Lua scripts build the same
    shape with ``cjson.encode``.
    """
    # What json.dumps(..., separators=(",", ":")) makes, without its generic walk: kept
    # for speed, bench/shortcuts.py event-json-many (PostgreSQL enqueue_many +16 %).
    return _message(origin, ",".join([_event_json(e.event, e.job_id, e.queue) for e in events]))


def encode_event(origin: str, event: str, job_id: str, queue: str) -> str:
    """:func:`encode_events` of one event, without making a :class:`StoreEvent`."""
    return _message(origin, _event_json(event, job_id, queue))


def _message(origin: str, batch: str) -> str:
    return f'{{"o":{quote_json(origin)},"e":[{batch}]}}'


def _event_json(event: str, job_id: str, queue: str) -> str:
    q = quote_json
    return f"[{q(event)},{q(job_id)},{q(queue)}]"


def decode_events(message: str | bytes) -> tuple[str, list[StoreEvent]]:
    """Decode a message made by :func:`encode_events`; raise ``ValueError`` if malformed."""
    try:
        data = json.loads(message)
        origin = data["o"]
        batch = [StoreEvent(str(e), str(j), str(q)) for e, j, q in data["e"]]
    except (TypeError, KeyError, ValueError) as exc:
        raise ValueError(f"not a conveyor event message: {message!r:.200}") from exc
    if not isinstance(origin, str):
        raise ValueError(f"not a conveyor event message: {message!r:.200}")
    return origin, batch


RemoteListener = Callable[[StoreEvent], None]

ANONYMOUS_ORIGIN = ""
"""The origin of events no store object published itself (a transactional enqueue,
committed by the application): every process, this one included, receives them."""


class RemoteEvents:
    """Hands job events published by *other* processes to this process's listeners.

    A store with ``cross_process_events`` tags what it publishes with :attr:`origin`
    and calls :meth:`deliver` for every message it receives, from whatever thread its
    subscription runs on; messages of its own origin are dropped here (this process
    already emitted them). Listeners are called on that thread and must hand work to
    their own event loop themselves. A listener that raises is logged.
    """

    def __init__(self) -> None:
        self.origin = uuid.uuid4().hex[:16]
        self._lock = threading.Lock()
        self._listeners: list[RemoteListener] = []

    @property
    def has_listeners(self) -> bool:
        """True while anybody listens."""
        return bool(self._listeners)

    def subscribe(self, listener: RemoteListener) -> None:
        """Call ``listener(event)`` for every event another process publishes."""
        with self._lock:
            self._listeners = [*self._listeners, listener]

    def unsubscribe(self, listener: RemoteListener) -> None:
        """Stop calling ``listener``."""
        with self._lock:
            self._listeners = [known for known in self._listeners if known != listener]

    def deliver(self, origin: str, events: Iterable[StoreEvent]) -> None:
        """Pass events from ``origin`` to the listeners, unless they are this process's."""
        if origin == self.origin:
            return
        listeners = self._listeners
        if not listeners:
            return
        for event in events:
            for listener in listeners:
                try:
                    listener(event)
                except Exception:
                    log.exception("remote event listener %r failed on %s", listener, event)
