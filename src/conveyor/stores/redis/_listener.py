"""The thread that follows a store's event channel from ``open()`` to ``close()``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import redis
from redis.exceptions import ConnectionError, TimeoutError

log = logging.getLogger("conveyor.stores.redis")

_READ_TIMEOUT = 1.0
_BACKOFF_FIRST, _BACKOFF_MOST = 0.05, 2.0


class Listener:
    """Subscribes to ``channel`` on a thread of its own, reconnecting with backoff.

    ``on_message(data)`` runs on that thread for every message; ``on_reconnect()`` after
    every subscription but the first (messages may have been missed meanwhile). A
    message on ``wake_channel`` only makes the thread look at its stop flag.
    """

    def __init__(
        self,
        connect: Callable[[], redis.Redis],
        channel: str,
        wake_channel: str,
        on_message: Callable[[bytes], None],
        on_reconnect: Callable[[], None],
    ) -> None:
        self._connect = connect
        self._channel = channel.encode()
        self._wake_channel = wake_channel.encode()
        self._on_message = on_message
        self._on_reconnect = on_reconnect
        self._stopping = threading.Event()
        self.subscribed = threading.Event()
        """Set once the first subscription is in place."""
        self._thread = threading.Thread(target=self._run, name="conveyor-redis-events", daemon=True)

    def start(self) -> None:
        """Start the thread; :attr:`subscribed` tells when it listens."""
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the thread to stop; a message on the wake channel hurries it."""
        self._stopping.set()

    def join(self) -> None:
        """Wait until the thread has stopped (at most about a read timeout)."""
        self._thread.join()

    def _run(self) -> None:
        delay, failing = _BACKOFF_FIRST, False
        while not self._stopping.is_set():
            client = self._connect()
            pubsub = client.pubsub()  # type: ignore[no-untyped-call]
            try:
                self._subscribe(pubsub)
                if self.subscribed.is_set():
                    log.info("event channel %s: subscribed again", self._channel.decode())
                    self._on_reconnect()
                self.subscribed.set()
                delay, failing = _BACKOFF_FIRST, False
                self._listen(pubsub)
            except (ConnectionError, TimeoutError, OSError) as exc:
                if not failing:
                    log.warning("event channel %s lost (%s); reconnecting",
                                self._channel.decode(), exc)  # fmt: skip
                failing = True
                self._stopping.wait(delay)
                delay = min(delay * 2, _BACKOFF_MOST)
            finally:
                pubsub.close()
                client.close()

    def _subscribe(self, pubsub: redis.client.PubSub) -> None:
        pubsub.subscribe(self._channel, self._wake_channel)
        confirmed = 0
        while confirmed < 2 and not self._stopping.is_set():
            message = pubsub.get_message(timeout=_READ_TIMEOUT)
            if message is not None and message["type"] == "subscribe":
                confirmed += 1

    def _listen(self, pubsub: redis.client.PubSub) -> None:
        while not self._stopping.is_set():
            message = pubsub.get_message(timeout=_READ_TIMEOUT)
            if message is None or message["type"] != "message":
                continue
            if message["channel"] == self._channel:
                try:
                    self._on_message(message["data"])
                except Exception:
                    log.exception("event message handling failed")
