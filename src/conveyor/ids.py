"""Job ids: unique strings that sort by creation time.

128 bits, 48 of milliseconds then 80 random, written in Crockford's base32 (26
characters, most significant first, so string order is time order). Within one
millisecond a process increments the random part, so its ids strictly increase.
"""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # 10 bits -> 2 characters
_RANDOM_MAX = (1 << 80) - 1


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
                # one bit of headroom, so increments within a millisecond cannot overflow
                rand = int.from_bytes(os.urandom(10)) >> 1
            self._last_ms, self._last_random = ms, rand
        value = (ms << 80) | rand
        pairs = _PAIRS
        return (
            _ALPHABET[value >> 125]
            + pairs[(value >> 115) & 1023] + pairs[(value >> 105) & 1023]
            + pairs[(value >> 95) & 1023] + pairs[(value >> 85) & 1023]
            + pairs[(value >> 75) & 1023] + pairs[(value >> 65) & 1023]
            + pairs[(value >> 55) & 1023] + pairs[(value >> 45) & 1023]
            + pairs[(value >> 35) & 1023] + pairs[(value >> 25) & 1023]
            + pairs[(value >> 15) & 1023] + pairs[(value >> 5) & 1023]
            + _ALPHABET[value & 31]
        )  # fmt: skip


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
