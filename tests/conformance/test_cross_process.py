"""Two queue objects on one shared store, as two processes would have them.

A "web" queue (no handlers, no workers) follows jobs that a "worker" queue on a store
object of its own runs: ``wait`` returns when the job finishes elsewhere, and on stores
that publish events (Redis, PostgreSQL) the job events reach the web side too.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from conftest import QueueFactory
from conveyor import Job, JobStatus
from testkit import eventually


def _shared_pair(make_queue: QueueFactory, **worker_options: object):
    web = make_queue()
    if not web.store.capabilities.cross_process:
        pytest.skip(f"{web.url} is not shared between processes")
    worker = make_queue(peer=web, workers=2, **worker_options)
    assert worker.store is not web.store
    return web, worker


async def test_wait_returns_promptly_when_another_process_finishes_the_job(
    make_queue: QueueFactory,
) -> None:
    web, worker = _shared_pair(make_queue)
    release = asyncio.Event()

    @worker.handler("gate")
    async def gate(job: Job) -> str:
        await release.wait()
        return "through"

    await worker.start()
    job_id = await web.enqueue("gate")
    waiting = asyncio.create_task(web.wait(job_id, timeout=10))
    await eventually(
        lambda: _status_is(web, job_id, JobStatus.PROCESSING), "the worker to start the job"
    )
    released_at = time.monotonic()
    release.set()
    job = await waiting
    # wait() re-checks at least once a second without a wake-up; a store that wakes the
    # waiter (pub/sub, NOTIFY, data_version) answers well inside that.
    assert time.monotonic() - released_at < 0.8
    assert job.status is JobStatus.COMPLETED
    assert job.result == "through"


async def _status_is(queue, job_id: str, status: JobStatus) -> bool:
    job = await queue.get_job(job_id)
    return job is not None and job.status is status


async def test_job_events_of_another_process_reach_this_ones_listeners(
    make_queue: QueueFactory,
) -> None:
    web, worker = _shared_pair(make_queue)
    if not web.store.capabilities.cross_process_events:
        pytest.skip(f"{web.url} does not publish events across processes")
    seen: list[tuple[str, str, JobStatus]] = []

    def note(name: str):
        def callback(job: Job) -> None:
            seen.append((name, job.id, job.status))

        return callback

    for name in ("job:added", "job:started", "job:progress", "job:completed", "job:failed",
                 "job:retrying"):  # fmt: skip
        web.on(name, note(name))
    progress_seen = asyncio.Event()
    web.on("job:progress", lambda job: progress_seen.set())

    @worker.handler("steps", retry_delay=0.01, max_retries=1)
    async def steps(job: Job) -> None:
        await job.progress(50, "half way")
        if job.attempts == 1:
            raise ValueError("once")

    await worker.start()
    job_id = await web.enqueue("steps")
    await web.wait(job_id, timeout=10)
    await eventually(
        lambda: any(e == "job:completed" for e, _, _ in seen), "job:completed to arrive"
    )
    names = [name for name, seen_id, _ in seen if seen_id == job_id]
    # job:added is emitted once, locally: the store's copy of it is our own origin.
    assert names.count("job:added") == 1
    assert names.count("job:started") == 2
    assert names.count("job:retrying") == 1
    assert names.count("job:completed") == 1
    assert "job:failed" not in names
    assert progress_seen.is_set()
    completed = next(status for name, _, status in seen if name == "job:completed")
    assert completed is JobStatus.COMPLETED


async def test_remote_events_of_another_queue_name_are_not_delivered(
    make_queue: QueueFactory,
) -> None:
    web, worker = _shared_pair(make_queue)
    if not web.store.capabilities.cross_process_events:
        pytest.skip(f"{web.url} does not publish events across processes")
    other = make_queue(store=worker.store, workers=1)
    seen: list[str] = []
    web.on("job:completed", lambda job: seen.append(job.id))

    @other.handler("noop")
    async def noop(job: Job) -> None:
        return None

    @worker.handler("noop")
    async def noop_too(job: Job) -> None:
        return None

    await other.start()
    await worker.start()
    elsewhere = await other.enqueue("noop")
    mine = await web.enqueue("noop")
    await other.wait(elsewhere, timeout=10)
    await web.wait(mine, timeout=10)
    await eventually(lambda: mine in seen, "our job's job:completed")
    assert elsewhere not in seen
