"""The SQLite writer's group commit: merged inserts, and one failure failing alone."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from conveyor import ConveyorError, create_queue
from conveyor.stores.sqlite import SQLiteStore
from conveyor.stores.sqlite._connection import BulkInsert, _merged, _Request
from testkit import job_record, unique_name


async def test_a_failing_insert_in_a_batch_fails_alone(tmp_path: Path) -> None:
    queue = create_queue(url=f"sqlite:///{tmp_path / 'batch.db'}", name="b")
    try:
        first = await queue.enqueue("x", {"n": 0})
        store = queue.store
        assert isinstance(store, SQLiteStore)
        existing = await store.get(first)
        assert existing is not None
        fresh = [job_record(unique_name("job"), "b") for _ in range(1, 6)]
        clash = dataclasses.replace(existing)  # same id: violates the primary key
        results = await asyncio.gather(
            *(store.enqueue([r]) for r in fresh[:3]),
            store.enqueue([clash]),
            *(store.enqueue([r]) for r in fresh[3:]),
            return_exceptions=True,
        )
        assert isinstance(results[3], ConveyorError)
        assert "UNIQUE" in str(results[3])
        assert [r for i, r in enumerate(results) if i != 3] == [None] * 5
        for record in fresh:
            assert await store.get(record.id) is not None
        assert (await queue.get_stats()).pending == 6
    finally:
        await queue.close()


def test_neighbouring_inserts_of_one_statement_merge() -> None:
    loop = asyncio.new_event_loop()
    try:

        def request(operation: object) -> _Request:
            return _Request(operation, False, loop, loop.create_future())  # type: ignore[arg-type]

        other = lambda conn: None  # noqa: E731
        batch = [
            request(BulkInsert("A", [(1,)])),
            request(BulkInsert("A", [(2,), (3,)])),
            request(other),
            request(BulkInsert("A", [(4,)])),
            request(BulkInsert("B", [(5,)])),
        ]
        groups = _merged(batch)
        assert [g.count for g in groups] == [2, 1, 1, 1]
        merged = groups[0].operation
        assert isinstance(merged, BulkInsert)
        assert list(merged.rows) == [(1,), (2,), (3,)]
        assert groups[1].operation is other
        assert sum(g.count for g in groups) == len(batch)
    finally:
        loop.close()


async def test_enqueue_many_is_one_transaction(tmp_path: Path) -> None:
    # Every commit appends at least one 4 KiB page to the WAL file: a thousand
    # transactions would write megabytes, one transaction of 1,000 small rows far less.
    path = tmp_path / "tx.db"
    queue = create_queue(url=f"sqlite:///{path}", name="t")
    try:
        await queue.get_stats()
        wal = Path(f"{path}-wal")
        before = wal.stat().st_size if wal.exists() else 0
        await queue.enqueue_many([("x", {"n": i}) for i in range(1000)])
        assert (await queue.get_stats()).pending == 1000
        assert wal.stat().st_size - before < 1000 * 4096 // 4
    finally:
        await queue.close()
