"""Order: strict priority, FIFO within a priority, delayed jobs never early."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from conftest import QueueFactory
from conveyor import JobPriority, JobStatus

LOW, NORMAL, HIGH, CRITICAL = JobPriority


async def test_strict_priority_then_fifo(make_queue: QueueFactory) -> None:
    queue = make_queue(workers=1)
    order: list[str] = []

    @queue.handler("job")
    async def handle(job):
        order.append(job.payload)

    plan = [
        (LOW, "low-1"), (NORMAL, "normal-1"), (CRITICAL, "critical-1"), (HIGH, "high-1"),
        (LOW, "low-2"), (CRITICAL, "critical-2"), (NORMAL, "normal-2"), (HIGH, "high-2"),
        (NORMAL, "normal-3"), (3, "critical-3"), (0, "low-3"),
    ]  # fmt: skip
    ids = [await queue.enqueue("job", label, priority=priority) for priority, label in plan]
    await queue.start()
    for job_id in ids:
        await queue.wait(job_id, timeout=5)

    assert order == [
        "critical-1", "critical-2", "critical-3", "high-1", "high-2",
        "normal-1", "normal-2", "normal-3", "low-1", "low-2", "low-3",
    ]  # fmt: skip


async def test_priority_and_fifo_hold_for_a_batch(make_queue: QueueFactory) -> None:
    queue = make_queue(workers=1)
    order: list[int] = []

    @queue.handler("job")
    def handle(job):
        order.append(job.payload)

    priorities = [LOW, HIGH, NORMAL, HIGH, LOW, NORMAL, CRITICAL]
    ids = await queue.enqueue_many([("job", i, {"priority": p}) for i, p in enumerate(priorities)])
    await queue.start()
    for job_id in ids:
        await queue.wait(job_id, timeout=5)
    assert order == [6, 1, 3, 2, 5, 0, 4]


async def test_delayed_jobs_never_run_early(make_queue: QueueFactory) -> None:
    queue = make_queue(workers=3)
    started: dict[str, float] = {}

    @queue.handler("job")
    async def handle(job):
        started[job.payload] = time.time()

    a = await queue.schedule("job", "a", 0.3)
    b = await queue.enqueue("job", "b", scheduled_at=datetime.now(UTC) + timedelta(seconds=0.4))
    c = await queue.schedule("job", "c", timedelta(seconds=0.2))
    now = await queue.enqueue("job", "now")
    for job_id in (a, b, c):
        job = await queue.get_job(job_id)
        assert job is not None
        assert job.status is JobStatus.SCHEDULED
    await queue.start()

    jobs = {job_id: await queue.wait(job_id, timeout=5) for job_id in (a, b, c, now)}
    for job_id in (a, b, c):
        job = jobs[job_id]
        assert job.status is JobStatus.COMPLETED
        assert job.config.scheduled_at is not None
        assert job.started_at is not None
        assert started[job.payload] >= job.config.scheduled_at.timestamp()
        assert job.started_at >= job.config.scheduled_at
    # In due order: c, a, b unless enqueueing them took long enough to change it.
    due = sorted((a, b, c), key=lambda job_id: jobs[job_id].config.scheduled_at)
    assert sorted(started, key=started.__getitem__) == ["now", *(jobs[j].payload for j in due)]


async def test_a_scheduled_job_does_not_hold_up_pending_ones(make_queue: QueueFactory) -> None:
    queue = make_queue(workers=1)
    order: list[str] = []

    @queue.handler("job")
    async def handle(job):
        order.append(job.payload)

    # The worker is up first: on a loaded machine its start (a cluster's, say) can take
    # longer than the delay, and then both jobs are due at its first claim.
    await queue.start()
    later = await queue.schedule("job", "later", 0.5, priority=CRITICAL)
    ready = await queue.enqueue("job", "ready", priority=LOW)
    await queue.wait(ready, timeout=5)
    await queue.wait(later, timeout=5)
    assert order == ["ready", "later"]
