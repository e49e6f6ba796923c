"""Job ids: unique strings that sort by creation time.

128 bits, 48 of milliseconds then 80 random, written in Crockford's base32 (26
characters, most significant first, so string order is time order). Within one
millisecond a process increments the random part, so its ids strictly increase.
"""

from __future__ import annotations

import os
import threading
import time

from .errors import InvalidJobError

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # 10 bits -> 2 characters
_RANDOM_MAX = (1 << 80) - 1
_CHARS = frozenset(_ALPHABET)


class _IdFactory:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = -1
        self._last_random = 0
        self._prefix = ""

    def reserve(self, count: int) -> tuple[str, int]:
        """Take ``count`` ids: return their time prefix and the first random part."""
        with self._lock:
            ms = time.time_ns() // 1_000_000
            if ms <= self._last_ms and self._last_random + count <= _RANDOM_MAX:
                ms = self._last_ms
                first = self._last_random + 1
            else:
                # one bit of headroom, so increments within a millisecond cannot overflow
                first = int.from_bytes(os.urandom(10)) >> 1
            if ms != self._last_ms:
                # The first 10 characters are the 48 bits of milliseconds, the other
                # 16 the 80 random bits: ids of one millisecond share the first part.
                self._prefix = (
                    _ALPHABET[ms >> 45] + _PAIRS[(ms >> 35) & 1023] + _PAIRS[(ms >> 25) & 1023]
                    + _PAIRS[(ms >> 15) & 1023] + _PAIRS[(ms >> 5) & 1023] + _ALPHABET[ms & 31]
                )  # fmt: skip
            self._last_ms, self._last_random = ms, first + count - 1
            return self._prefix, first


def _spell(prefix: str, r: int) -> str:
    pairs = _PAIRS
    return (
        prefix
        + pairs[r >> 70] + pairs[(r >> 60) & 1023] + pairs[(r >> 50) & 1023]
        + pairs[(r >> 40) & 1023] + pairs[(r >> 30) & 1023] + pairs[(r >> 20) & 1023]
        + pairs[(r >> 10) & 1023] + pairs[r & 1023]
    )  # fmt: skip


_factory = _IdFactory()


def new_job_id() -> str:
    """Return a new job id, unique and sortable by creation time."""
    return _spell(*_factory.reserve(1))


def new_job_ids(count: int) -> list[str]:
    """Return ``count`` new job ids in increasing order (one clock read for all)."""
    prefix, first = _factory.reserve(count)
    return [_spell(prefix, r) for r in range(first, first + count)]


def check_job_id(value: object) -> str:
    """Return ``value`` if it is a job id of conveyor's form, or raise :class:`InvalidJobError`.

    That is 26 characters of Crockford's base32 (upper case), as :func:`new_job_id`
    makes; what ``enqueue(..., job_id=...)`` takes.
    """
    if (
        not isinstance(value, str)
        or len(value) != 26
        or value[0] > "7"  # 130 bits written, 128 used: the first character is 0 to 7
        or not _CHARS.issuperset(value)
    ):
        raise InvalidJobError(
            f"job_id must be a job id made by conveyor.ids.new_job_id(), got {value!r}"
        )
    return value


def id_time(job_id: str) -> float:
    """Return the creation time (epoch seconds) encoded in ``job_id``."""
    value = 0
    for char in job_id[:10]:
        value = value * 32 + _ALPHABET.index(char)
    return value / 1000.0
