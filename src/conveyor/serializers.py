"""How payloads and results are turned into bytes for the store and back.

JSON is the default and the only format conveyor reads from a store unless told
otherwise: data written to a store is never unpickled by default.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any, Protocol

from .errors import SerializationError


class Serializer(Protocol):
    """Turns payloads and results into bytes and back."""

    def dumps(self, value: Any) -> bytes:
        """Serialise ``value``; raise :class:`SerializationError` if it cannot be."""
        ...

    def loads(self, data: bytes) -> Any:
        """Deserialise bytes made by :meth:`dumps`."""
        ...


class JSONSerializer:
    """Strict JSON, compact UTF-8: no NaN or Infinity either way.

    As in any JSON, dictionary keys that are numbers, booleans or ``None`` come back
    as strings (``{1: "a"}`` is read back as ``{"1": "a"}``).
    """

    def __init__(self) -> None:
        encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        self._encode: Callable[[Any], str] = encoder.encode
        if c_make_encoder is not None:
            # One C encoder for every call (JSONEncoder.encode makes one per call, which
            # is most of the cost of a small payload). Without circular-reference
            # markers a cycle ends in RecursionError, reported below like the others.
            chunks = c_make_encoder(None, encoder.default, encode_basestring, None, ":", ",",
                                    False, False, False)  # fmt: skip
            self._encode = lambda value: "".join(chunks(value, 0))
        self._decoder = json.JSONDecoder(parse_constant=_refuse_constant)

    def dumps(self, value: Any) -> bytes:
        """Encode ``value`` as JSON; anything JSON cannot hold is a clear error."""
        try:
            return self._encode(value).encode()
        except (TypeError, ValueError, RecursionError) as exc:
            raise SerializationError(
                f"value is not JSON-serialisable ({exc}); pass JSON types (dict, list, str,"
                " int, float, bool, None) or configure a serializer for this type"
            ) from None

    def loads(self, data: bytes) -> Any:
        """Decode JSON bytes."""
        try:
            return self._decoder.decode(data.decode())
        except (UnicodeDecodeError, ValueError) as exc:
            raise SerializationError(f"stored data is not valid JSON: {exc}") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


JSON = JSONSerializer()
