"""Faster command packing with hiredis's C packer.

redis-py's asyncio connections pack commands in Python, argument by argument; for the
store's script calls (many arguments each) that is a large share of the client's time.
The store packs its own commands with hiredis (:mod:`._conn`); the connections
redis-py drives with the store's options (their greeting as they connect, and the
client the benchmarks use as the raw reference) pack with it too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import hiredis
from redis.asyncio.connection import AbstractConnection

pack_command: Callable[[tuple[Any, ...]], bytes] = hiredis.pack_command
"""One command's arguments (of any length) as the bytes to send."""


class _HiredisPacking(AbstractConnection):
    def pack_command(self, *args: Any) -> list[bytes]:
        first = args[0]
        if not isinstance(first, str) or " " in first:
            return super().pack_command(*args)
        return [pack_command(args)]


_made: dict[type[AbstractConnection], type[AbstractConnection]] = {}


def with_fast_packing(cls: type[AbstractConnection]) -> type[AbstractConnection]:
    """Return ``cls`` packing commands with hiredis."""
    made = _made.get(cls)
    if made is None:
        made = _made[cls] = type(cls.__name__, (_HiredisPacking, cls), {})
    return made
