"""Every hot SQLite statement reads an index, never the whole table or a sort.

This is what keeps claims fast with a million jobs in the file: a claim reads the first
rows of one partial index, whatever the backlog.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from conveyor import create_queue
from conveyor.stores.sqlite import queries as q

STATEMENTS = [
    "PROMOTE_DUE", "READY_HEAD", "CLAIM", "RENEW", "RECOVER_EXPIRED",
    "CANCEL_WAITING", "REQUEST_CANCEL", "RETRY", "SET_PROGRESS", "GET", "LIST", "STATS",
    "CLEAR_COMPLETED", "NEXT_DUE", "AGE",
]  # fmt: skip


@pytest.fixture(scope="module")
def conn(tmp_path_factory: pytest.TempPathFactory) -> sqlite3.Connection:
    path = Path(tmp_path_factory.mktemp("plans")) / "plans.db"

    async def create() -> None:
        queue = create_queue(url=f"sqlite:///{path}")
        await queue.get_stats()
        await queue.close()

    asyncio.run(create())
    return sqlite3.connect(path)


def _params(sql: str) -> object:
    if ":" in sql:
        names = {"now", "lease", "worker", "ids", "id", "status", "result", "error",
                 "traceback", "delay", "attempt", "percent", "message", "postponed",
                 "queue", "before", "limit"}  # fmt: skip
        return {name: '["x"]' if name == "ids" else 1 for name in names}
    return (1,) * sql.count("?")


@pytest.mark.parametrize("name", [*STATEMENTS, "settle_many(1)", f"settle_many({q.SETTLE_MAX})"])
def test_statement_uses_an_index(conn: sqlite3.Connection, name: str) -> None:
    sql = q.settle_many(int(name[12:-1])) if name.startswith("settle_many") else getattr(q, name)
    plan = [row[-1] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, _params(sql))]
    table = "conveyor_counts" if name == "STATS" else "conveyor_jobs"  # stats read the counts
    table_reads = [step for step in plan if table in step]
    assert table_reads, plan
    for step in table_reads:
        assert step.startswith("SEARCH"), f"{name} scans: {plan}"
    assert not any("TEMP B-TREE" in step for step in plan), f"{name} sorts: {plan}"
