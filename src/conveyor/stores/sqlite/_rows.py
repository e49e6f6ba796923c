"""The rows of new jobs, as an enqueue and a schedule's tick insert them."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Sequence

from ..records import JobRecord
from . import queries as q


def new_rows(records: Sequence[JobRecord]) -> tuple[str, Sequence[Sequence[object]]]:
    """Return the INSERT statement and its rows for the new jobs ``records``."""
    rows = [
        (r.id, r.queue, r.name, r.payload, r.status.value, r.priority, r.max_retries,
         r.retry_delay, r.timeout, r.backoff, r.created_at, r.run_at, r.scheduled_at)
        for r in records
    ]  # fmt: skip
    if all(r.headers is None and r.unique_key is None and r.unique_until is None for r in records):
        return q.INSERT_NEW, rows
    tagged = [
        (*row, r.headers, r.unique_key, r.unique_until)
        for row, r in zip(rows, records, strict=True)
    ]
    return q.INSERT_NEW_TAGGED, tagged


def count_added(conn: sqlite3.Connection, rows: Sequence[Sequence[object]]) -> None:
    """Count new job rows (made by :func:`new_rows`) into conveyor_counts (see migration 7)."""
    added = Counter((row[1], row[4]) for row in rows)  # (queue, status)
    conn.executemany(q.COUNT_ADDED, [(queue, status, n) for (queue, status), n in added.items()])
