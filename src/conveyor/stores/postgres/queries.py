"""The store's SQL: the named statements of ``queries.sql``, bound to one schema."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from psycopg import sql

# JobRecord's fields in order; times are read back as epoch seconds.
_FIELDS = (
    "id", "queue", "name", "payload", "status", "priority", "max_retries", "retry_delay",
    "timeout", "backoff", "created_at", "run_at", "scheduled_at", "attempts", "started_at",
    "completed_at", "worker_id", "lease_expires_at", "result", "error", "traceback",
    "progress", "progress_message", "cancel_requested", "headers", "unique_key", "unique_until",
)  # fmt: skip
_TIMES = {"created_at", "run_at", "scheduled_at", "started_at", "completed_at", "lease_expires_at",
          "unique_until"}  # fmt: skip
COLUMNS = ", ".join(
    f"extract(epoch FROM j.{f})::float8 AS {f}" if f in _TIMES else f"j.{f}" for f in _FIELDS
)
"""The select list that reads a job row (aliased ``j``) in :class:`JobRecord` order."""
MATCH = (
    "j.queue = %(queue)s AND j.status = %(status)s"
    " AND (%(name)s::text IS NULL OR j.name = %(name)s)"
    " AND NOT (j.name = ANY(%(skip_names)s::text[]))"
    " AND (%(before)s::float8 IS NULL"
    " OR coalesce(j.completed_at, j.created_at) < to_timestamp(%(before)s::float8))"
)
"""The condition on a job row (aliased ``j``) of a bulk operation's ``JobMatch``."""
PICK = (
    "SELECT j.id FROM {schema}.jobs j WHERE {match}"
    " ORDER BY j.id LIMIT %(limit)s FOR UPDATE SKIP LOCKED"
)
"""The ids of the oldest ``limit`` jobs a ``JobMatch`` takes, locked."""
COUNTED = """counted AS (
    INSERT INTO {schema}.job_count_changes (queue, status, delta)
    SELECT m.queue, c.status, sum(c.delta) FROM moves m
    CROSS JOIN LATERAL (VALUES (m.was, -1), (m.now, 1)) AS c (status, delta)
    WHERE c.status IS NOT NULL
    GROUP BY m.queue, c.status HAVING sum(c.delta) <> 0
)"""
"""The CTE that appends the net count changes of the jobs a statement's ``moves`` names."""


@cache
def _named_blocks() -> dict[str, str]:
    text = files(__package__).joinpath("queries.sql").read_text(encoding="utf-8")
    blocks: dict[str, str] = {}
    for block in re.split(r"^-- name: ", text, flags=re.MULTILINE)[1:]:
        name, _, body = block.partition("\n")
        blocks[name.strip()] = body.strip()
    return blocks


@dataclass(frozen=True, slots=True)
class Queries:
    """Every statement of ``queries.sql`` with ``{schema}`` filled in (as bytes, as sent)."""

    enqueue_one: bytes
    enqueue_many: bytes
    claim: bytes
    renew: bytes
    settle: bytes
    recover_expired: bytes
    cancel: bytes
    retry: bytes
    set_progress: bytes
    get: bytes
    list_jobs: bytes
    stats: bytes
    fold_counts: bytes
    lock_key: bytes
    key_holder: bytes
    lock_slots: bytes
    acquire_slot: bytes
    release_slot: bytes
    take_start: bytes
    age_jobs: bytes
    clear_completed: bytes
    next_due: bytes
    save_schedules: bytes
    move_schedule: bytes
    list_schedules: bytes
    pause_schedule: bytes
    remove_schedules: bytes
    count_matching: bytes
    delete_matching: bytes
    retry_matching: bytes
    cancel_matching: bytes
    delete_job: bytes
    beat_worker: bytes
    list_workers: bytes
    forget_worker: bytes


@cache
def for_schema(schema: str) -> Queries:
    """Return the statements of ``schema`` (made once per schema)."""
    quoted = sql.Identifier(schema).as_string()
    return Queries(
        **{
            name: body.replace("{pick}", PICK)
            .replace("{counted}", COUNTED)
            .replace("{schema}", quoted)
            .replace("{columns}", COLUMNS)
            .replace("{match}", MATCH)
            .encode()
            for name, body in _named_blocks().items()
        }
    )


def claim_for(claim: bytes, queues: Sequence[str], limit: int) -> bytes:
    """Return the claim statement for ``queues`` and ``limit``, with those written in.

    With the queues and the number of rows read per queue as parameters, the server
    planned the claim afresh at every call (which took longer than running it): it never
    settles on a generic plan, whose guess for a parameter limit (a tenth of the table)
    would join the whole table. Written in, the server keeps one plan per statement.
    The rows read per queue are :func:`_scan_rows`; the final ``LIMIT`` stays a parameter.
    """
    queue_array = sql.Literal(list(queues)).as_bytes(None).replace(b"%", b"%%")
    scan = b"%d" % _scan_rows(limit)
    return claim.replace(b"%(queues)b", queue_array).replace(b"%(scan)s", scan)


def claim_key(queues: Sequence[str], limit: int) -> tuple[tuple[str, ...], int]:
    """Return what :func:`claim_for`'s statement depends on: the queues, the rows read."""
    return tuple(queues), _scan_rows(limit)


EXACT_SCANS = 32
"""Up to this limit, a claim reads (and locks) exactly the rows it may take."""


def _scan_rows(limit: int) -> int:
    """Return how many rows of each queue a claim of ``limit`` jobs reads and locks.

    A row read but not taken stays locked until the claim commits, and a concurrent
    claim skips it: reading ``limit`` rows (of a single queue) leaves none behind. That
    is a statement per limit (a plan takes about 340 KiB of the server's memory per
    connection), so above :data:`EXACT_SCANS` the limit is rounded up to a power of two.
    """
    return limit if limit <= EXACT_SCANS else 1 << (limit - 1).bit_length()
