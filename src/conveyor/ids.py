"""Job ids: unique strings that sort by creation time (ULID layout, Crockford base32).

48 bits of milliseconds then 80 random bits; within one millisecond a process
increments the random part, so ids made by one process are strictly increasing.
"""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RANDOM_BITS = 80
_RANDOM_MAX = (1 << _RANDOM_BITS) - 1


class _IdFactory:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = -1
        self._last_random = 0

    def new_id(self) -> str:
        with self._lock:
            ms = time.time_ns() // 1_000_000
            if ms <= self._last_ms and self._last_random < _RANDOM_MAX:
                ms = self._last_ms
                rand = self._last_random + 1
            else:
                rand = int.from_bytes(os.urandom(10), "big") >> 1
            self._last_ms, self._last_random = ms, rand
        value = (ms << _RANDOM_BITS) | rand
        chars = []
        for _ in range(26):
            chars.append(_ALPHABET[value & 31])
            value >>= 5
        return "".join(reversed(chars))


_factory = _IdFactory()


def new_job_id() -> str:
    """Return a new job id, unique and sortable by creation time."""
    return _factory.new_id()


def id_time(job_id: str) -> float:
    """Return the creation time (epoch seconds) encoded in ``job_id``."""
    value = 0
    for char in job_id[:10]:
        value = value * 32 + _ALPHABET.index(char)
    return value / 1000.0
