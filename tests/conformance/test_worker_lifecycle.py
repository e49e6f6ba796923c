"""Running: graceful stop, unknown job names, idle workers."""

from __future__ import annotations

import asyncio

from conftest import QueueFactory
from conveyor import JobStatus
from testkit import wait_for_status


async def test_stop_waits_for_running_jobs(make_queue: QueueFactory) -> None:
    queue = make_queue(workers=1)
    started = asyncio.Event()

    @queue.handler("job")
    async def handle(job):
        started.set()
        await asyncio.sleep(0.2)
        return "finished"

    await queue.start()
    job_id = await queue.enqueue("job")
    await asyncio.wait_for(started.wait(), 5)
    await queue.stop()
    assert not queue.is_running
    job = await queue.get_job(job_id)
    assert job is not None
    assert (job.status, job.result, job.attempts) == (JobStatus.COMPLETED, "finished", 1)


async def test_stop_at_its_deadline_puts_the_job_back_uncounted(make_queue: QueueFactory) -> None:
    queue = make_queue(workers=1)
    started = asyncio.Event()
    interrupted: list[int] = []
    stuck = True

    @queue.handler("job")
    async def handle(job):
        if not stuck:
            return job.attempts
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            interrupted.append(job.attempts)
            raise

    await queue.start()
    job_id = await queue.enqueue("job", max_retries=0)
    await asyncio.wait_for(started.wait(), 5)
    await asyncio.wait_for(queue.stop(timeout=0.1), 5)

    put_back = await queue.get_job(job_id)
    assert put_back is not None
    assert (put_back.status, put_back.attempts) == (JobStatus.PENDING, 0)
    assert interrupted == [1]
    stuck = False
    await queue.start()
    done = await queue.wait(job_id, timeout=5)
    # max_retries=0, yet it ran again: the interrupted attempt was not counted.
    assert (done.status, done.attempts, done.result) == (JobStatus.COMPLETED, 1, 1)


async def test_a_job_without_a_handler_here_is_failed_and_kept(make_queue: QueueFactory) -> None:
    producer = make_queue()  # registers no handlers: may enqueue any name
    worker = make_queue(peer=producer, workers=1)
    worker.register("other", lambda job: "other")
    job_id = await producer.enqueue("mystery", {"x": 1}, max_retries=1, retry_delay=0.01)

    await worker.start()
    job = await worker.wait(job_id, timeout=5)
    assert (job.status, job.attempts) == (JobStatus.FAILED, 2)
    assert job.error is not None
    assert "no handler for job name 'mystery'" in job.error
    assert "other" in job.error  # what this worker does know
    assert job.payload == {"x": 1}
    await worker.stop()

    fixed = make_queue(peer=producer, workers=1)
    fixed.register("mystery", lambda job: job.payload["x"] + 1)
    assert await producer.retry_job(job_id) is True
    assert (await wait_for_status(producer, job_id, JobStatus.PENDING)).attempts == 0
    await fixed.start()
    done = await fixed.wait(job_id, timeout=5)
    assert (done.status, done.result) == (JobStatus.COMPLETED, 2)


async def test_an_idle_worker_does_not_spin_on_the_store(make_queue: QueueFactory) -> None:
    queue = make_queue(workers=2)
    queue.register("job", lambda job: None)
    claims = 0
    claim = queue.store.claim

    async def counting_claim(*args, **kwargs):
        nonlocal claims
        claims += 1
        return await claim(*args, **kwargs)

    queue.store.claim = counting_claim  # type: ignore[method-assign]
    await queue.start()
    await queue.wait(await queue.enqueue("job"), timeout=5)
    before = claims
    await asyncio.sleep(0.5)  # measuring idleness: nothing to wait for but time
    assert claims - before <= 5, f"{claims - before} claims in 0.5 s with nothing to do"
    # ... and still wakes at once for new work.
    await queue.wait(await queue.enqueue("job"), timeout=2)


async def test_start_and_stop_are_idempotent(make_queue: QueueFactory) -> None:
    queue = make_queue(workers=1)
    queue.register("job", lambda job: job.payload)
    started: list[object] = []
    queue.on("queue:started", started.append)
    await queue.stop()  # not running: nothing to do
    await queue.start()
    await queue.start()
    assert queue.is_running
    assert len(started) == 1
    assert (await queue.wait(await queue.enqueue("job", 7), timeout=5)).result == 7
    await queue.stop()
    await queue.stop()
    assert not queue.is_running
