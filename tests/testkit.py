"""Helpers for conveyor's own tests: unique names and condition-waits with deadlines."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from conveyor import Job, JobStatus, Queue
from conveyor.stores import JobRecord, Outcome

T = TypeVar("T")


def unique_name(prefix: str = "t") -> str:
    """A queue name no other test uses (the conformance stores may be shared)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


async def eventually(
    predicate: Callable[[], T | Awaitable[T]],
    what: str,
    timeout: float = 5.0,
    interval: float = 0.005,
) -> T:
    """Return ``predicate()``'s first truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(interval)


async def status_of(queue: Queue, job_id: str) -> JobStatus:
    """The job's stored status (it must exist)."""
    job = await queue.get_job(job_id)
    assert job is not None, f"job {job_id} vanished"
    return job.status


async def wait_for_status(
    queue: Queue, job_id: str, status: JobStatus, timeout: float = 5.0
) -> Job:
    """Wait until the stored job has ``status``; return it."""

    async def reached() -> Job | None:
        job = await queue.get_job(job_id)
        return job if job is not None and job.status is status else None

    return await eventually(reached, f"job {job_id} to become {status.value}", timeout)


async def finish(queue: Queue, job_ids: list[str], status: JobStatus) -> None:
    """Claim and settle ``job_ids`` as ``status`` (COMPLETED or FAILED) on the store."""
    claimed = await queue.store.claim([queue.name], len(job_ids), "w", 30.0)
    assert sorted(r.id for r in claimed) == sorted(job_ids)
    await queue.store.settle([Outcome(r.id, "w", r.attempts, status) for r in claimed])


def job_record(job_id: str, queue: str, **fields: object) -> JobRecord:
    """A new job's record as a store takes it: pending, due now, ``fields`` changed."""
    now = time.time()
    defaults: dict[str, object] = {
        "id": job_id, "queue": queue, "name": "job", "payload": b"\x00\xffraw",
        "status": JobStatus.PENDING, "priority": 1, "max_retries": 3, "retry_delay": 1.0,
        "timeout": 30.0, "backoff": None, "created_at": now, "run_at": now,
    }  # fmt: skip
    defaults.update(fields)
    return JobRecord(**defaults)  # type: ignore[arg-type]


PORTAL_BUSY = 10.0
"""Seconds :func:`portal_busy` keeps the portal's loop busy."""


@contextmanager
def portal_busy(queue: Queue) -> Iterator[None]:
    """Keep ``queue.sync``'s portal loop busy; fail if the block took half as long.

    What the block does on the calling thread is done there, then: had it gone through
    the portal, it would have waited until the loop was free.
    """
    blocking, free = threading.Event(), threading.Event()

    def block() -> None:
        blocking.set()
        free.wait(PORTAL_BUSY)

    queue.sync.portal.loop().call_soon_threadsafe(block)
    assert blocking.wait(5), "the portal's loop did not run the blocker"
    began = time.monotonic()
    try:
        yield
    finally:
        took = time.monotonic() - began
        free.set()
    assert took < PORTAL_BUSY / 2, f"the block waited {took:.1f} s for the portal's loop"
