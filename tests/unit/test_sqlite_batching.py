"""The SQLite writer's group commit: joined inserts and settles, one failure failing alone."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from pathlib import Path

from conveyor import ConveyorError, create_queue
from conveyor.job import JobStatus
from conveyor.stores.records import Outcome
from conveyor.stores.sqlite import SQLiteStore
from conveyor.stores.sqlite._connection import BulkInsert, _grouped, _Request
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


def test_neighbouring_inserts_of_one_statement_join() -> None:
    loop = asyncio.new_event_loop()
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE a (n INTEGER)")
    conn.execute("CREATE TABLE b (n INTEGER)")
    try:

        def request(operation: object) -> _Request:
            return _Request(operation, False, loop, loop.create_future())  # type: ignore[arg-type]

        into_a, into_b = "INSERT INTO a VALUES (?)", "INSERT INTO b VALUES (?)"
        other = lambda conn: "other"  # noqa: E731
        batch = [
            request(BulkInsert(into_a, [(1,)])),
            request(BulkInsert(into_a, [(2,), (3,)])),
            request(other),
            request(BulkInsert(into_a, [(4,)])),
            request(BulkInsert(into_b, [(5,)])),
        ]
        groups = _grouped(batch)
        assert [len(g.operations) for g in groups] == [2, 1, 1, 1]
        assert groups[1].operations == [other]
        answers = [answer for group in groups for answer in group(conn)]
        assert answers == [None, None, "other", None, None]
        assert [n for (n,) in conn.execute("SELECT n FROM a ORDER BY rowid")] == [1, 2, 3, 4]
        assert [n for (n,) in conn.execute("SELECT n FROM b")] == [5]
    finally:
        conn.close()
        loop.close()


async def test_concurrent_settles_join_and_answer_each_outcome(tmp_path: Path) -> None:
    queue = create_queue(url=f"sqlite:///{tmp_path / 'settle.db'}", name="s")
    try:
        store = queue.store
        assert isinstance(store, SQLiteStore)
        await store.enqueue([job_record(unique_name("job"), "s") for _ in range(150)])
        claimed = await store.claim(["s"], 150, "w1", 30.0)
        assert len(claimed) == 150
        statuses = [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.SCHEDULED, JobStatus.PENDING]
        outcomes = [
            Outcome(r.id, "w1", r.attempts, statuses[i % 4], retry_delay=60.0)
            for i, r in enumerate(claimed)
        ]
        # Every fifth is another worker's (a lease it lost): not applied.
        outcomes = [
            dataclasses.replace(o, worker_id="w2") if i % 5 == 0 else o
            for i, o in enumerate(outcomes)
        ]
        answers = await asyncio.gather(*(store.settle([o]) for o in outcomes[:100]),
                                       store.settle(outcomes[100:]))  # fmt: skip
        applied = [a for answer in answers for a in answer]
        assert applied == [o.worker_id == "w1" for o in outcomes]
        for outcome in outcomes:
            record = await store.get(outcome.job_id)
            assert record is not None
            expected = outcome.status if outcome.worker_id == "w1" else JobStatus.PROCESSING
            assert record.status is expected, outcome
        stats = await queue.get_stats()
        assert (stats.completed, stats.failed, stats.processing) == (30, 30, 30)
        assert stats.scheduled + stats.pending == 60
    finally:
        await queue.close()


async def test_two_outcomes_of_one_job_in_one_settle(tmp_path: Path) -> None:
    # Only the owner's applies, and each outcome's answer says which.
    queue = create_queue(url=f"sqlite:///{tmp_path / 'twice.db'}", name="t")
    try:
        store = queue.store
        assert isinstance(store, SQLiteStore)
        await store.enqueue([job_record(unique_name("job"), "t")])
        [record] = await store.claim(["t"], 1, "w1", 30.0)
        stale = Outcome(record.id, "w0", record.attempts, JobStatus.FAILED)
        owner = Outcome(record.id, "w1", record.attempts, JobStatus.COMPLETED)
        assert await store.settle([stale, owner]) == [False, True]
        again = await store.get(record.id)
        assert again is not None
        assert again.status is JobStatus.COMPLETED
    finally:
        await queue.close()


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
