"""Steering many jobs at once, on every store: count (the dry run), delete, retry and
cancel by status, name and age, in batches; and deleting one job."""

from __future__ import annotations

import asyncio

import pytest

from conftest import QueueFactory
from conveyor import InvalidJobError, JobStatus
from testkit import finish, unique_name


async def test_count_then_delete_by_status_and_name(make_queue: QueueFactory) -> None:
    queue = make_queue()
    reports = await queue.enqueue_many([("report", n) for n in range(5)])
    emails = await queue.enqueue_many([("email", n) for n in range(3)])
    await finish(queue, reports + emails, JobStatus.COMPLETED)
    waiting = await queue.enqueue("report", 99)
    other = make_queue(store=queue.store, name=unique_name())
    elsewhere = await other.enqueue("report", 1)

    assert await queue.count_jobs("completed") == 8
    assert await queue.count_jobs(JobStatus.COMPLETED, name="report") == 5
    assert await queue.delete_jobs("completed", name="report") == 5
    assert await queue.count_jobs("completed") == 3
    assert [job.name for job in await queue.get_jobs_by_status("completed")] == ["email"] * 3
    assert await queue.get_job(waiting) is not None
    assert await other.get_job(elsewhere) is not None
    stats = await queue.get_stats()
    assert (stats.completed, stats.pending, stats.total) == (3, 1, 4)


async def test_age_counts_from_finishing_for_finished_jobs(make_queue: QueueFactory) -> None:
    queue = make_queue()
    old = await queue.enqueue_many([("work", n) for n in range(3)])
    await finish(queue, old, JobStatus.FAILED)
    await asyncio.sleep(0.3)
    new = await queue.enqueue_many([("work", n) for n in range(2)])
    await finish(queue, new, JobStatus.FAILED)
    assert await queue.count_jobs("failed", older_than=0.2) == 3
    assert await queue.count_jobs("failed", older_than=60) == 0
    assert await queue.retry_jobs(older_than=0.2) == 3
    retried = [await queue.get_job(job_id) for job_id in old]
    assert all(job is not None and job.status is JobStatus.PENDING for job in retried)
    assert all(job is not None and job.attempts == 0 for job in retried)
    assert await queue.count_jobs("failed") == 2


async def test_bulk_operations_go_in_batches(
    make_queue: QueueFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import conveyor.client.steering

    monkeypatch.setattr(conveyor.client.steering, "BULK_BATCH", 4)
    queue = make_queue()
    await queue.enqueue_many([("work", n) for n in range(10)])
    batches: list[int] = []
    assert await queue.cancel_jobs(on_batch=batches.append) == 10
    assert batches == [4, 4, 2]
    assert (await queue.get_stats()).cancelled == 10
    batches.clear()
    assert await queue.retry_jobs("cancelled", on_batch=batches.append) == 10
    assert batches == [4, 4, 2]
    assert (await queue.get_stats()).pending == 10


async def test_cancel_jobs_takes_waiting_jobs_only(make_queue: QueueFactory) -> None:
    queue = make_queue()
    later = await queue.enqueue("work", delay=3600)
    now = await queue.enqueue("work")
    assert await queue.cancel_jobs("scheduled") == 1
    assert (await queue.get_job(later)).status is JobStatus.CANCELLED  # type: ignore[union-attr]
    assert (await queue.get_job(now)).status is JobStatus.PENDING  # type: ignore[union-attr]
    # A cancelled job never runs: the claim skips it.
    assert await queue.cancel_jobs() == 1
    assert await queue.store.claim([queue.name], 10, "w", 30.0) == []


async def test_delete_one_job_unless_it_runs(make_queue: QueueFactory) -> None:
    queue = make_queue()
    running = await queue.enqueue("work")
    [claimed] = await queue.store.claim([queue.name], 1, "w", 30.0)
    assert claimed.id == running
    waiting = await queue.enqueue("work")
    assert not await queue.delete_job(running)
    assert await queue.get_job(running) is not None
    assert await queue.delete_job(waiting)
    assert await queue.get_job(waiting) is None
    assert not await queue.delete_job(waiting)
    assert await queue.store.claim([queue.name], 10, "w", 30.0) == []  # not claimable


@pytest.mark.parametrize(
    ("call", "status", "match"),
    [
        ("delete_jobs", "processing", "running jobs cannot be deleted"),
        ("retry_jobs", "pending", "only failed or cancelled"),
        ("cancel_jobs", "completed", "only pending or scheduled"),
        ("count_jobs", "lost", "unknown job status 'lost'"),
    ],
)
async def test_bulk_operations_refuse_what_they_cannot_do(
    make_queue: QueueFactory, call: str, status: str, match: str
) -> None:
    queue = make_queue()
    with pytest.raises(InvalidJobError, match=match):
        await getattr(queue, call)(status)
    with pytest.raises(InvalidJobError, match="older_than"):
        await queue.count_jobs("failed", older_than=-1)
