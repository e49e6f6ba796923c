"""The PostgreSQL store's own binary dumpers of column arrays, read back by the server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from conveyor.stores.postgres._arrays import (
    ByteaArray,
    Float8Array,
    Int4Array,
    TextArray,
    register,
)
from servers import POSTGRES, require


@pytest.fixture
def conn() -> Iterator[psycopg.Connection[Any]]:
    require(POSTGRES)
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        register(conn.adapters)
        yield conn


CASES = [
    (TextArray, "text[]", ["a", "héllo ✓", "", "x" * 10_000]),
    (TextArray, "text[]", ["a", None, "c"]),
    (TextArray, "text[]", [None, None]),
    (TextArray, "text[]", []),
    (ByteaArray, "bytea[]", [b"\x00\xff", b"", b'{"tag":1}']),
    (ByteaArray, "bytea[]", [None, b"x"]),
    (Float8Array, "float8[]", [1.5, 1795952609.3958812, -0.0, 1e300]),
    (Float8Array, "float8[]", [None, 2.5, None]),
    (Float8Array, "float8[]", []),
    (Int4Array, "int4[]", [1, -2, 2**31 - 1, -(2**31)]),
]


@pytest.mark.parametrize(("mark", "cast", "values"), CASES)
def test_a_marked_list_reaches_the_server_as_it_is(
    conn: psycopg.Connection[Any], mark: type[list[Any]], cast: str, values: list[Any]
) -> None:
    sent = mark(values)
    row = conn.execute(f"SELECT %b::{cast}, cardinality(%b::{cast})", (sent, sent)).fetchone()
    assert row is not None
    assert row == (values, len(values))


def test_the_marks_dump_with_the_store_dumpers_not_psycopgs(
    conn: psycopg.Connection[Any],
) -> None:
    dumper = conn.adapters.get_dumper(TextArray, psycopg.adapt.PyFormat.BINARY)
    assert dumper.__module__ == "conveyor.stores.postgres._arrays"


def test_without_registration_a_marked_list_is_still_a_list() -> None:
    require(POSTGRES)
    with psycopg.connect(POSTGRES, autocommit=True) as plain:
        row = plain.execute("SELECT %b::text[]", (TextArray(["a", None]),)).fetchone()
    assert row == (["a", None],)
