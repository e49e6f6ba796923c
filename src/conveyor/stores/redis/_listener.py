"""The thread that follows a store's channels, only while anybody in this process needs them.

A process that only enqueues (a web process) subscribes to nothing: every message it
received would be its own and cost it time on every enqueue. The thread subscribes
when a coroutine starts waiting for a change or somebody listens to remote events,
keeps the subscription while that goes on (and for :data:`LINGER` seconds after, so a
busy worker does not subscribe again at every idle moment), then drops the connection.

A wake-up can not be lost to a late subscription: once the server confirmed it, the
thread calls ``on_subscribed`` (the store fires its change signal), so every waiter
looks at the store again after the point from which messages reach it.
"""

from __future__ import annotations

import builtins
import logging
import socket
import threading
import time
from collections.abc import Callable, Collection, Iterable
from typing import Any

import hiredis
import redis
from redis.exceptions import ConnectionError, TimeoutError

log = logging.getLogger("conveyor.stores.redis")

_READ_TIMEOUT = 1.0
_BACKOFF_FIRST, _BACKOFF_MOST = 0.05, 2.0
_CHUNK = 65536
LINGER = 5.0
"""Seconds a subscription outlives the last need for it."""


class Listener:
    """Subscribes to ``wanted()`` channels on a thread of its own, reconnecting with backoff.

    ``wanted()`` names the channels needed right now (none: unsubscribe, after
    :data:`LINGER`); the thread asks again at least once a second, after a read that
    timed out, and at once when ``poke`` is set (:meth:`refresh`; a message on
    ``control_channel``, always subscribed while connected, hurries it out of a read).
    ``on_message(data)`` runs on the thread for every message of those channels;
    ``on_subscribed()`` after every subscription the server confirmed.
    """

    def __init__(
        self,
        connect: Callable[[], redis.Redis],
        control_channel: str,
        wanted: Callable[[], Collection[str]],
        poke: threading.Event,
        on_message: Callable[[bytes], None],
        on_subscribed: Callable[[], None],
    ) -> None:
        self._connect = connect
        self._control = control_channel.encode()
        self._wanted = wanted
        self._poke = poke
        self._on_message = on_message
        self._on_subscribed = on_subscribed
        self._stopping = threading.Event()
        self._state = threading.Condition()
        self._channels: frozenset[bytes] = frozenset()
        self.connected = False
        """True while the thread holds a subscriber connection (``control_channel`` works)."""
        self._thread = threading.Thread(target=self._run, name="conveyor-redis-events", daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the thread to stop; a message on the control channel hurries it."""
        self._stopping.set()
        self._poke.set()

    def join(self) -> None:
        """Wait until the thread has stopped (at most about a read timeout)."""
        self._thread.join()

    def refresh(self) -> None:
        """Make the thread look at ``wanted()`` soon (at once if it is not connected)."""
        self._poke.set()

    def wait_subscribed(self, channels: Iterable[str], timeout: float) -> bool:
        """Block until ``channels`` are all subscribed; False after ``timeout`` seconds."""
        needed = {channel.encode() for channel in channels}
        with self._state:
            return self._state.wait_for(lambda: needed <= self._channels, timeout)

    def _set_channels(self, channels: frozenset[bytes]) -> None:
        with self._state:
            self._channels = channels
            self._state.notify_all()

    def _run(self) -> None:
        delay, failing = _BACKOFF_FIRST, False
        while not self._stopping.is_set():
            self._poke.clear()
            if not self._wanted():
                self._poke.wait(_READ_TIMEOUT)
                continue
            client = self._connect()
            subscriber: _Subscriber | None = None
            try:
                subscriber = _Subscriber(client)
                self._serve(subscriber)
                delay = _BACKOFF_FIRST
                if failing:
                    log.info("event channels: subscribed again")
                    failing = False
            except (ConnectionError, TimeoutError, OSError) as exc:
                if not failing:
                    log.warning("event channels lost (%s); reconnecting", exc)
                failing = True
                self._stopping.wait(delay)
                delay = min(delay * 2, _BACKOFF_MOST)
            finally:
                self.connected = False
                self._set_channels(frozenset())
                if subscriber is not None:
                    subscriber.close()
                client.close()

    def _serve(self, subscriber: _Subscriber) -> None:
        """Hold the subscriptions ``wanted()`` asks for; return once none was wanted for a while."""
        self._confirm(subscriber, {self._control})
        self.connected = True
        current: frozenset[bytes] = frozenset()
        needed_at = check_at = time.monotonic()
        message: list[Any] | None = None
        while not self._stopping.is_set():
            # Between messages, only what can change the subscriptions is looked at.
            now = time.monotonic()
            if message is None or now >= check_at or self._poke.is_set():
                poked = self._poke.is_set()
                self._poke.clear()
                want = frozenset(channel.encode() for channel in self._wanted())
                check_at = now + _READ_TIMEOUT
                if want or poked:
                    needed_at = now
                if not want:
                    if now - needed_at >= LINGER:
                        return
                    want = current
                if want != current:
                    if current - want:
                        subscriber.send("UNSUBSCRIBE", *(current - want))
                    added = want - current
                    if added:
                        self._confirm(subscriber, added)
                    self._set_channels(want)
                    current = want
                    if added:
                        self._on_subscribed()
            message = subscriber.read()
            self._handle(message)

    def _confirm(self, subscriber: _Subscriber, channels: Collection[bytes]) -> None:
        """Subscribe to ``channels``; return once the server confirmed every one."""
        subscriber.send("SUBSCRIBE", *channels)
        waiting = set(channels)
        while waiting and not self._stopping.is_set():
            message = subscriber.read()
            if message is not None and message[0] == b"subscribe":
                waiting.discard(message[1])
            else:
                self._handle(message)

    def _handle(self, message: list[Any] | None) -> None:
        if message is None or message[0] != b"message" or message[1] == self._control:
            return
        try:
            self._on_message(message[2])
        except Exception:
            log.exception("event message handling failed")


class _Subscriber:
    """A subscriber connection, read straight from its socket.

    redis-py makes the connection (TLS, authentication; RESP2, see the store's
    ``_new_sync_client``), and after that its ``PubSub`` is not used: its
    ``get_message`` costs about 0.2 ms more per message than a blocking ``recv`` and
    hiredis's reader, on the path of every wake-up.
    """

    def __init__(self, client: redis.Redis) -> None:
        self._connection = client.connection_pool.get_connection()
        connected = self._connection._sock
        if connected is None:
            raise ConnectionError("the subscriber connection did not connect")
        self._socket: socket.socket = connected
        self._socket.settimeout(_READ_TIMEOUT)
        self._reader: hiredis.Reader = hiredis.Reader()

    def send(self, *args: bytes | str) -> None:
        """Send one command (its reply comes as a message)."""
        self._socket.sendall(hiredis.pack_command(args))  # type: ignore[arg-type]

    def read(self) -> list[Any] | None:
        """Return the next message, or ``None`` after a second without one."""
        reply = self._reader.gets()
        while reply is False:
            try:
                data = self._socket.recv(_CHUNK)
            except builtins.TimeoutError:  # not redis-py's TimeoutError
                return None
            if not data:
                raise ConnectionError("the server closed the subscriber connection")
            self._reader.feed(data)
            reply = self._reader.gets()
        return reply if isinstance(reply, list) else None

    def close(self) -> None:
        """Close the connection."""
        self._connection.disconnect()  # type: ignore[no-untyped-call]
