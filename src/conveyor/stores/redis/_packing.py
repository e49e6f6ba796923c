"""Faster command packing with hiredis's C packer, when hiredis is installed.

redis-py's asyncio connections pack commands in Python, argument by argument; for the
store's script calls (many arguments each) that is a large share of the client's
time. ``pip install hiredis`` (also redis-py's faster reply parser) enables this.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from redis.asyncio.connection import AbstractConnection

pack_command: Callable[[tuple[Any, ...]], bytes] | None
try:
    from hiredis import pack_command
except ImportError:  # pragma: no cover - hiredis is optional
    pack_command = None


class _HiredisPacking(AbstractConnection):
    def pack_command(self, *args: Any) -> list[bytes]:
        first = args[0]
        if pack_command is None or not isinstance(first, str) or " " in first:
            return super().pack_command(*args)
        return [pack_command(args)]


_made: dict[type[AbstractConnection], type[AbstractConnection]] = {}


def with_fast_packing(cls: type[AbstractConnection]) -> type[AbstractConnection]:
    """Return ``cls`` packing commands with hiredis (``cls`` itself without hiredis)."""
    if pack_command is None:
        return cls
    made = _made.get(cls)
    if made is None:
        made = _made[cls] = type(cls.__name__, (_HiredisPacking, cls), {})
    return made
