"""Outcomes settled many at a time: one ``UPDATE`` for the settles of a writer's batch.

Every job's attempt settles on its own (``store.settle([outcome])``), and the writer
thread takes all the settles queued meanwhile in one transaction. As :class:`Settles`
they join (:class:`._connection.Joinable`), so that the batch's outcomes go to SQLite
in statements of up to :data:`~.queries.SETTLE_MAX` jobs each instead of one
statement per job.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..records import Outcome
from . import queries as q
from ._connection import Joinable

SettleRow = tuple[object, ...]
"""One outcome's values, in the order of :data:`~.queries.SETTLE_COLUMNS`."""


def settle_row(outcome: Outcome, now: float) -> SettleRow:
    """Return ``outcome``'s row for :func:`~.queries.settle_many`."""
    return (
        outcome.job_id, outcome.worker_id, outcome.attempt, outcome.status.value,
        outcome.postponed, now, outcome.retry_delay, outcome.result, outcome.error,
        outcome.traceback,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Settles(Joinable):
    """Apply ``rows`` (outcomes); the answer says, for each, whether its worker owned it."""

    rows: Sequence[SettleRow]

    def __call__(self, conn: sqlite3.Connection) -> list[bool]:
        """Apply the outcomes."""
        return apply(conn, self.rows)

    def joins(self, other: Joinable) -> bool:
        """Say whether ``other`` settles too."""
        return isinstance(other, Settles)

    @classmethod
    def run_joined(cls, operations: Sequence[Any], conn: sqlite3.Connection) -> list[Any]:
        """Apply the outcomes of all ``operations`` together; one list of answers each."""
        applied = apply(conn, [row for settles in operations for row in settles.rows])
        answers, start = [], 0
        for settles in operations:
            answers.append(applied[start : start + len(settles.rows)])
            start += len(settles.rows)
        return answers


def apply(conn: sqlite3.Connection, rows: Sequence[SettleRow]) -> list[bool]:
    """Apply ``rows`` in statements of up to ``SETTLE_MAX`` distinct jobs; say which applied.

    A statement's width is padded to a power of two with rows that match no job, so a
    handful of statements serve every batch size. As a rule every outcome applies, which
    the statement's row count tells; when it counts fewer, the statement is undone (a
    savepoint) and its outcomes are applied one statement each, whose counts tell which.
    Two outcomes of one job (two workers of this process, the lease of one lost to the
    other) never share a statement: which one applied could not be told from the count.
    """
    answers: list[bool] = []
    chunk: list[SettleRow] = []
    ids: set[object] = set()

    def send() -> None:
        width = 1 << (len(chunk) - 1).bit_length()
        values = [value for row in chunk for value in row]
        values += [None] * (q.SETTLE_WIDTH * (width - len(chunk)))
        conn.execute("SAVEPOINT conveyor_settles")
        if conn.execute(q.settle_many(width), values).rowcount == len(chunk):
            answers.extend([True] * len(chunk))
        else:
            conn.execute("ROLLBACK TO conveyor_settles")
            one = q.settle_many(1)
            answers.extend(conn.execute(one, row).rowcount == 1 for row in chunk)
        conn.execute("RELEASE conveyor_settles")
        chunk.clear()
        ids.clear()

    for row in rows:
        if row[0] in ids or len(chunk) == q.SETTLE_MAX:
            send()
        chunk.append(row)
        ids.add(row[0])
    if chunk:
        send()
    return answers
