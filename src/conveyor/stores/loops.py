"""Resources that belong to one event loop each."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerLoop(Generic[T]):
    """One resource (a client, a pool) per event loop, made on first use in that loop.

    asyncio drivers bind connections to the loop that made them, while a queue is used
    from the application's loop and from the sync twins' portal loop at once.
    """

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._lock = threading.Lock()
        self._by_loop: dict[asyncio.AbstractEventLoop, T] = {}

    def get(self) -> T:
        """Return the running loop's resource, making it if needed."""
        loop = asyncio.get_running_loop()
        resource = self._by_loop.get(loop)  # a dict read is atomic: no lock once made
        if resource is not None:
            return resource
        with self._lock:
            resource = self._by_loop.get(loop)
            if resource is None:
                resource = self._by_loop[loop] = self._make()
            return resource

    def items(self) -> list[tuple[asyncio.AbstractEventLoop, T]]:
        """Return every resource with its loop (they stay)."""
        with self._lock:
            return list(self._by_loop.items())

    def take_all(self) -> list[tuple[asyncio.AbstractEventLoop, T]]:
        """Remove and return every resource with its loop (to close them)."""
        with self._lock:
            taken = list(self._by_loop.items())
            self._by_loop.clear()
        return taken
