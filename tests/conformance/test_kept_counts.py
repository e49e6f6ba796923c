"""get_stats agrees with the jobs themselves after every kind of change.

SQLite and PostgreSQL keep their counts beside the jobs (triggers; statements that
append count changes), Redis in a set per status: each step here compares
``get_stats`` with a count of the jobs listed status by status.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from conftest import QueueFactory
from conveyor import JobStatus, Queue
from testkit import eventually


async def listed_counts(queue: Queue) -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in JobStatus:
        offset, page = 0, 500
        while True:
            jobs = await queue.get_jobs_by_status(status, limit=page, offset=offset)
            counts[status.value] = counts.get(status.value, 0) + len(jobs)
            if len(jobs) < page:
                break
            offset += page
    return counts


async def assert_counts_agree(queue: Queue, step: str) -> None:
    stats = await queue.get_stats()
    kept = {status.value: getattr(stats, status.value) for status in JobStatus}
    assert kept == await listed_counts(queue), f"after {step}"
    assert stats.total == sum(kept.values()), f"after {step}"


async def test_counts_follow_every_change(make_queue: QueueFactory) -> None:
    queue = make_queue(workers=4)
    release = asyncio.Event()

    @queue.handler("ok")
    async def ok(job: object) -> str:
        return "fine"

    @queue.handler("bad", max_retries=0)
    async def bad(job: object) -> None:
        raise RuntimeError("no")

    @queue.handler("held")
    async def held(job: object) -> None:
        await release.wait()

    await queue.enqueue_many([("ok", {})] * 30 + [("bad", {})] * 5)
    await queue.enqueue("ok", delay=timedelta(hours=1))
    pending_one = await queue.enqueue("ok")
    await assert_counts_agree(queue, "enqueue")

    assert await queue.cancel(pending_one)
    await assert_counts_agree(queue, "cancel of a pending job")
    assert await queue.retry_job(pending_one)
    await assert_counts_agree(queue, "retry of a cancelled job")

    await queue.start()
    held_id = await queue.enqueue("held")
    await eventually(lambda: _finished_and_held(queue), "every job but the held one to finish")
    await assert_counts_agree(queue, "running")
    assert await queue.cancel(held_id)  # flagged: its worker ends it soon
    release.set()
    await queue.wait(held_id, timeout=5)
    await queue.stop()
    await assert_counts_agree(queue, "the run")

    assert await queue.retry_jobs(JobStatus.FAILED) == 5
    await assert_counts_agree(queue, "retry_jobs")
    assert await queue.cancel_jobs(JobStatus.PENDING) == 5
    await assert_counts_agree(queue, "cancel_jobs")
    first_cancelled = (await queue.get_jobs_by_status(JobStatus.CANCELLED, limit=1))[0]
    assert await queue.delete_job(first_cancelled.id)
    await assert_counts_agree(queue, "delete_job")
    assert await queue.delete_jobs(JobStatus.CANCELLED) >= 4
    await assert_counts_agree(queue, "delete_jobs")
    assert await queue.clear_completed() == 31
    await assert_counts_agree(queue, "clear_completed")
    stats = await queue.get_stats()
    assert (stats.scheduled, stats.total) == (1, 1), stats


async def _finished_and_held(queue: Queue) -> bool:
    stats = await queue.get_stats()
    return stats.completed == 31 and stats.failed == 5 and stats.processing == 1
