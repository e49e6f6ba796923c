"""Column arrays for the batch statements, dumped in PostgreSQL's binary array format.

psycopg dumps a Python list element by element in Python (its C extension speeds up
single values, not arrays): for ``enqueue_many`` of 1,000 jobs that was about 4 ms of
the client's time, a sixth of the whole call. A list marked with one of these types is
dumped here in a few C-level steps instead (one ``struct`` call per float or int array,
one join per text or bytea array). The store's own connections know the marks
(:func:`register`); on any other connection a marked list is still a list, and psycopg
dumps it the usual way.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from functools import lru_cache
from itertools import chain
from typing import Any

from psycopg.adapt import AdaptersMap, Dumper
from psycopg.pq import Format

_HEAD = struct.Struct("!iiiii")  # dimensions, has-nulls, element type, length, lower bound
_LENGTH = struct.Struct("!i").pack
_NULL = _LENGTH(-1)


class TextArray(list[str | None]):
    """Values of a ``text[]`` parameter."""


class ByteaArray(list[bytes | None]):
    """Values of a ``bytea[]`` parameter."""


class Float8Array(list[float | None]):
    """Values of a ``float8[]`` parameter."""


class Int4Array(list[int]):
    """Values of an ``int4[]`` parameter (no NULLs)."""


def _array(element_oid: int, items: list[Any], body: bytes, nulls: bool) -> bytes:
    if not items:
        return struct.pack("!iii", 0, 0, element_oid)
    return _HEAD.pack(1, nulls, element_oid, len(items), 1) + body


def _varlen(element_oid: int, items: list[Any], encode: Callable[[Any], bytes] | None) -> bytes:
    """Dump ``items`` (``encode`` makes bytes of each, ``None`` if they are bytes already)."""
    if None not in items:
        encoded = items if encode is None else list(map(encode, items))
        lengths = map(_LENGTH, map(len, encoded))
        return _array(
            element_oid,
            items,
            b"".join(chain.from_iterable(zip(lengths, encoded, strict=True))),
            False,
        )
    if items.count(None) == len(items):
        return _array(element_oid, items, _NULL * len(items), True)
    parts = [
        _NULL if v is None else _LENGTH(len(b := v if encode is None else encode(v))) + b
        for v in items
    ]
    return _array(element_oid, items, b"".join(parts), True)


@lru_cache(maxsize=64)
def _elements(code: str, count: int) -> struct.Struct:
    """Return the struct of ``count`` elements of type ``code``, each after its length."""
    return struct.Struct("!" + ("i" + code) * count)


def _fixed_width(element_oid: int, code: str, size: int, items: list[Any]) -> bytes:
    if None in items:
        return _varlen(element_oid, items, struct.Struct("!" + code).pack)
    interleaved: list[Any] = [size] * (2 * len(items))
    interleaved[1::2] = items
    return _array(element_oid, items, _elements(code, len(items)).pack(*interleaved), False)


class _TextArrayDumper(Dumper):
    format = Format.BINARY
    oid = 1009

    def dump(self, obj: Any) -> bytes:
        return _varlen(25, obj, str.encode)


class _ByteaArrayDumper(Dumper):
    format = Format.BINARY
    oid = 1001

    def dump(self, obj: Any) -> bytes:
        return _varlen(17, obj, None)


class _Float8ArrayDumper(Dumper):
    format = Format.BINARY
    oid = 1022

    def dump(self, obj: Any) -> bytes:
        return _fixed_width(701, "d", 8, obj)


class _Int4ArrayDumper(Dumper):
    format = Format.BINARY
    oid = 1007

    def dump(self, obj: Any) -> bytes:
        return _fixed_width(23, "i", 4, obj)


def register(adapters: AdaptersMap) -> None:
    """Make the connection (or cursor) that owns ``adapters`` dump the marked lists here."""
    adapters.register_dumper(TextArray, _TextArrayDumper)
    adapters.register_dumper(ByteaArray, _ByteaArrayDumper)
    adapters.register_dumper(Float8Array, _Float8ArrayDumper)
    adapters.register_dumper(Int4Array, _Int4ArrayDumper)
