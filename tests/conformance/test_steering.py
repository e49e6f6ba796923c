"""Steering jobs: retry_job, cancel, wait."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta

import pytest

from conftest import QueueFactory
from conveyor import JobNotFoundError, JobPriority, JobStatus, WaitTimeoutError
from conveyor.stores import Outcome
from testkit import eventually, status_of, wait_for_status

UNKNOWN_ID = "01ZZZZZZZZZZZZZZZZZZZZZZZZ"


async def test_retry_job_sends_a_failed_job_back_to_pending(make_queue: QueueFactory) -> None:
    queue = make_queue(workers=1)
    broken = True

    @queue.handler("job")
    async def handle(job):
        if broken:
            raise RuntimeError("broken")
        return job.attempts

    await queue.start()
    job_id = await queue.enqueue("job", max_retries=0)
    assert (await queue.wait(job_id, timeout=5)).status is JobStatus.FAILED
    await queue.stop()

    broken = False
    assert await queue.retry_job(job_id) is True
    pending = await queue.get_job(job_id)
    assert pending is not None
    assert (pending.status, pending.attempts) == (JobStatus.PENDING, 0)
    await queue.start()
    done = await queue.wait(job_id, timeout=5)
    assert (done.status, done.attempts, done.result) == (JobStatus.COMPLETED, 1, 1)


async def test_retry_job_sends_a_cancelled_job_back_to_pending(make_queue: QueueFactory) -> None:
    queue = make_queue(workers=1)
    queue.register("job", lambda job: "ran")
    job_id = await queue.enqueue("job")
    assert await queue.cancel(job_id) is True
    assert await status_of(queue, job_id) is JobStatus.CANCELLED
    assert await queue.retry_job(job_id) is True
    assert await status_of(queue, job_id) is JobStatus.PENDING
    await queue.start()
    done = await queue.wait(job_id, timeout=5)
    assert (done.status, done.result) == (JobStatus.COMPLETED, "ran")


async def test_retry_job_is_false_for_other_states_and_unknown_ids(
    make_queue: QueueFactory,
) -> None:
    queue = make_queue()
    pending = await queue.enqueue("job")
    scheduled = await queue.schedule("job", None, 3600)
    running = await queue.enqueue("job", priority=JobPriority.CRITICAL)
    completed = await queue.enqueue("job", priority=JobPriority.CRITICAL)
    await queue.store.open()
    claimed = await queue.store.claim([queue.name], 2, "test-worker", 60.0)
    assert [r.id for r in claimed] == [running, completed]
    assert await queue.store.settle(
        [Outcome(completed, "test-worker", 1, JobStatus.COMPLETED)]
    ) == [True]

    for job_id in (pending, scheduled, running, completed, UNKNOWN_ID):
        assert await queue.retry_job(job_id) is False, job_id
    assert [await status_of(queue, i) for i in (pending, scheduled, running, completed)] == [
        JobStatus.PENDING, JobStatus.SCHEDULED, JobStatus.PROCESSING, JobStatus.COMPLETED,
    ]  # fmt: skip


async def test_cancelled_pending_and_scheduled_jobs_never_run(make_queue: QueueFactory) -> None:
    queue = make_queue(workers=1)
    ran: list[str] = []

    @queue.handler("job")
    async def handle(job):
        ran.append(job.payload)

    pending = await queue.enqueue("job", "pending", priority=JobPriority.CRITICAL)
    scheduled = await queue.schedule("job", "scheduled", 0.1, priority=JobPriority.CRITICAL)
    assert await queue.cancel(pending) is True
    assert await queue.cancel(scheduled) is True
    for job_id in (pending, scheduled):
        job = await queue.get_job(job_id)
        assert job is not None
        assert job.status is JobStatus.CANCELLED
        assert job.completed_at is not None
    # Sentinels run after the cancelled jobs would have: the worker had every chance.
    first = await queue.enqueue("job", "sentinel-now", priority=JobPriority.LOW)
    second = await queue.schedule("job", "sentinel-later", 0.3, priority=JobPriority.LOW)
    await queue.start()
    await queue.wait(first, timeout=5)
    await queue.wait(second, timeout=5)

    assert ran == ["sentinel-now", "sentinel-later"]
    assert await status_of(queue, pending) is JobStatus.CANCELLED
    assert await status_of(queue, scheduled) is JobStatus.CANCELLED
    assert await queue.cancel(pending) is False  # already finished


async def test_cancel_is_false_for_unknown_and_finished_jobs(make_queue: QueueFactory) -> None:
    queue = make_queue(workers=1)
    queue.register("job", lambda job: None)
    assert await queue.cancel(UNKNOWN_ID) is False
    await queue.start()
    job_id = await queue.enqueue("job")
    await queue.wait(job_id, timeout=5)
    assert await queue.cancel(job_id) is False
    assert await status_of(queue, job_id) is JobStatus.COMPLETED


async def test_cancelling_a_running_async_job_ends_it_cancelled(make_queue: QueueFactory) -> None:
    queue = make_queue(workers=1)
    started = asyncio.Event()
    runs: list[str] = []
    saw_cancel: list[int] = []

    @queue.handler("job")
    async def handle(job):
        runs.append(job.payload)
        if job.payload == "quick":
            return
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            saw_cancel.append(job.attempts)
            raise

    cancelled_events: list[str] = []
    queue.on("job:cancelled", lambda job: cancelled_events.append(job.id))
    await queue.start()
    job_id = await queue.enqueue("job", "slow", max_retries=3, retry_delay=0.01)
    await asyncio.wait_for(started.wait(), 5)
    assert await queue.cancel(job_id) is True
    job = await queue.wait(job_id, timeout=5)

    assert (job.status, job.attempts) == (JobStatus.CANCELLED, 1)
    assert saw_cancel == [1]
    # wait() may return as soon as the outcome is stored, a moment before the event.
    await eventually(lambda: cancelled_events == [job_id], "the job:cancelled event")
    # Not retried: a later job runs and the cancelled one stays as it is.
    await queue.wait(await queue.enqueue("job", "quick", priority=JobPriority.LOW), timeout=5)
    assert runs == ["slow", "quick"]
    stored = await queue.get_job(job_id)
    assert stored is not None
    assert (stored.status, stored.attempts) == (JobStatus.CANCELLED, 1)


async def test_a_plain_handler_sees_the_cancel(make_queue: QueueFactory) -> None:
    queue = make_queue(workers=1)
    started = threading.Event()
    noticed = threading.Event()

    @queue.handler("job")
    def handle(job):
        started.set()
        deadline = time.monotonic() + 10
        while not job.cancelled and time.monotonic() < deadline:
            time.sleep(0.005)
        if job.cancelled:
            noticed.set()
        job.raise_if_cancelled()

    await queue.start()
    job_id = await queue.enqueue("job", max_retries=3)
    await eventually(started.is_set, "the handler to start")
    assert await queue.cancel(job_id) is True
    job = await queue.wait(job_id, timeout=5)
    assert (job.status, job.attempts) == (JobStatus.CANCELLED, 1)
    assert await eventually(noticed.is_set, "the handler to see job.cancelled")


async def test_a_cancel_from_another_queue_object_reaches_the_worker(
    make_queue: QueueFactory,
) -> None:
    worker = make_queue(workers=1, lease=0.3)  # heartbeats every 0.1 s
    started = asyncio.Event()

    @worker.handler("job")
    async def handle(job):
        started.set()
        await asyncio.sleep(30)

    producer = make_queue(peer=worker)
    await worker.start()
    job_id = await producer.enqueue("job", max_retries=3)
    await asyncio.wait_for(started.wait(), 5)
    assert await producer.cancel(job_id) is True
    job = await producer.wait(job_id, timeout=5)
    assert (job.status, job.attempts) == (JobStatus.CANCELLED, 1)


async def test_wait_returns_the_finished_job(make_queue: QueueFactory) -> None:
    queue = make_queue(workers=2)

    @queue.handler("job")
    async def handle(job):
        await asyncio.sleep(0.05)
        if job.payload == "fail":
            raise KeyError("nope")
        return job.payload

    await queue.start()
    ok = await queue.enqueue("job", "ok")
    bad = await queue.enqueue("job", "fail", max_retries=0)
    done = await queue.wait(ok)
    failed = await queue.wait(bad, timeout=timedelta(seconds=5))
    assert (done.id, done.status, done.result) == (ok, JobStatus.COMPLETED, "ok")
    assert (failed.id, failed.status) == (bad, JobStatus.FAILED)
    assert failed.error == "KeyError: 'nope'"


async def test_wait_times_out_and_knows_unknown_ids(make_queue: QueueFactory) -> None:
    queue = make_queue()
    job_id = await queue.enqueue("job")
    began = time.monotonic()
    with pytest.raises(WaitTimeoutError, match=job_id):
        await queue.wait(job_id, timeout=0.2)
    assert 0.2 <= time.monotonic() - began < 2
    with pytest.raises(JobNotFoundError, match=UNKNOWN_ID):
        await queue.wait(UNKNOWN_ID, timeout=1)
    assert await status_of(queue, job_id) is JobStatus.PENDING


async def test_wait_on_another_queue_object_sees_the_outcome(make_queue: QueueFactory) -> None:
    worker = make_queue(workers=1)
    worker.register("job", lambda job: job.payload * 2)
    producer = make_queue(peer=worker)
    await worker.start()
    job_id = await producer.enqueue("job", 21)
    job = await producer.wait(job_id, timeout=5)
    assert (job.status, job.result) == (JobStatus.COMPLETED, 42)
    assert (await wait_for_status(worker, job_id, JobStatus.COMPLETED)).result == 42
