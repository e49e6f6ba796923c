"""Job records and outcomes to statement parameters (one array per column) and back."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ... import events
from ...job import JobStatus
from ..channel import StoreEvent, encode_events, quote_json
from ..records import JobRecord, Outcome
from ._arrays import ByteaArray, Float8Array, Int4Array, TextArray

Params = dict[str, Any]

MAX_MESSAGE = 7999
"""Bytes a NOTIFY payload may hold."""


# The event each settled status publishes: a released job only wakes workers.
EVENT_OF_SETTLED = {
    JobStatus.COMPLETED: events.JOB_COMPLETED,
    JobStatus.FAILED: events.JOB_FAILED,
    JobStatus.SCHEDULED: events.JOB_RETRYING,
    JobStatus.CANCELLED: events.JOB_CANCELLED,
    JobStatus.PENDING: "job:released",
}


def _seconds(value: float | None) -> float | None:
    # One element type per array: an int among floats would pick the wrong dumper.
    return None if value is None else float(value)


def messages(origin: str, batch: Sequence[StoreEvent]) -> list[str]:
    """Encode ``batch`` as few NOTIFY payloads as fit the size limit, in order.

    Each payload is exactly what :func:`encode_events` makes of its events; every string
    is escaped once (event names and queue names once per batch), and an event too big
    for any payload goes alone.
    """
    if len(batch) == 1:
        return [encode_events(origin, batch)]
    head = '{"o":' + quote_json(origin) + ',"e":['
    quoted: dict[str, str] = {}  # event and queue names: a few, repeated
    found: list[str] = []
    parts: list[str] = []
    size = len(head) + 2  # + "]}"; ASCII only (non-ASCII is escaped): bytes = chars
    for event in batch:
        name = quoted.get(event.event) or quoted.setdefault(event.event, quote_json(event.event))
        queue = quoted.get(event.queue) or quoted.setdefault(event.queue, quote_json(event.queue))
        part = f"[{name},{quote_json(event.job_id)},{queue}]"
        if parts and size + 1 + len(part) > MAX_MESSAGE:
            found.append(head + ",".join(parts) + "]}")
            parts, size = [], len(head) + 2
        size += len(part) + (1 if parts else 0)
        parts.append(part)
    found.append(head + ",".join(parts) + "]}")
    return found


def record_params(records: Sequence[JobRecord], origin: str) -> Params:
    """Return the parameters of ``enqueue_one`` / ``enqueue_many`` for new jobs."""
    added = [StoreEvent(events.JOB_ADDED, r.id, r.queue) for r in records]
    if len(records) == 1:
        [r] = records
        return {
            "id": r.id, "queue": r.queue, "name": r.name, "payload": r.payload,
            "status": r.status.value, "priority": r.priority, "max_retries": r.max_retries,
            "retry_delay": float(r.retry_delay), "timeout": _seconds(r.timeout),
            "backoff": r.backoff, "created_at": float(r.created_at),
            "run_at": float(r.run_at), "scheduled_at": _seconds(r.scheduled_at),
            "headers": r.headers, "unique_key": r.unique_key,
            "unique_until": _seconds(r.unique_until), "message": encode_events(origin, added),
        }  # fmt: skip
    return {
        "messages": TextArray(messages(origin, added)),
        "id": TextArray([r.id for r in records]),
        "queue": TextArray([r.queue for r in records]),
        "name": TextArray([r.name for r in records]),
        "payload": ByteaArray([r.payload for r in records]),
        "status": TextArray([r.status.value for r in records]),
        "priority": Int4Array([r.priority for r in records]),
        "max_retries": Int4Array([r.max_retries for r in records]),
        "retry_delay": Float8Array([float(r.retry_delay) for r in records]),
        "timeout": Float8Array([_seconds(r.timeout) for r in records]),
        "backoff": TextArray([r.backoff for r in records]),
        "created_at": Float8Array([float(r.created_at) for r in records]),
        "run_at": Float8Array([float(r.run_at) for r in records]),
        "scheduled_at": Float8Array([_seconds(r.scheduled_at) for r in records]),
        "headers": TextArray([r.headers for r in records]),
    }


def _event_of(outcome: Outcome) -> str:
    return "job:postponed" if outcome.postponed else EVENT_OF_SETTLED[outcome.status]


def outcome_params(outcomes: Sequence[Outcome]) -> Params:
    """Return the ``settle`` statement's arrays for ``outcomes``."""
    return {
        "id": TextArray([o.job_id for o in outcomes]),
        "worker": TextArray([o.worker_id for o in outcomes]),
        "attempt": Int4Array([o.attempt for o in outcomes]),
        "status": TextArray([o.status.value for o in outcomes]),
        "event": TextArray([_event_of(o) for o in outcomes]),
        "postponed": [o.postponed for o in outcomes],
        "result": ByteaArray([o.result for o in outcomes]),
        "error": TextArray([o.error for o in outcomes]),
        "traceback": TextArray([o.traceback for o in outcomes]),
        "delay": Float8Array([float(o.retry_delay) for o in outcomes]),
    }


def to_record(row: Sequence[Any]) -> JobRecord:
    """Turn a row read with :data:`queries.COLUMNS` into a :class:`JobRecord`."""
    record = JobRecord(*row)
    record.status = JobStatus(record.status)
    return record
