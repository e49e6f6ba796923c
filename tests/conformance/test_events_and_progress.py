"""Lifecycle events, progress reports, and where handlers run."""

from __future__ import annotations

import asyncio
import functools
import logging
import threading

import pytest

from conftest import QueueFactory
from conveyor import Job, JobStatus, Queue
from testkit import eventually

SEED_EVENTS = [
    "job:added", "job:started", "job:progress", "job:completed", "job:failed",
    "job:retrying", "queue:started", "queue:stopped",
]  # fmt: skip


async def test_events_reach_sync_and_async_callbacks(make_queue: QueueFactory) -> None:
    queue = make_queue(workers=1)
    seen_sync: list[tuple[str, str | None, JobStatus | None]] = []
    seen_async: list[tuple[str, str | None]] = []
    payloads: dict[str, object] = {}

    def note(into: list, name: str, data: object) -> None:
        if isinstance(data, Job):
            into.append((name, data.id, data.status))
            payloads.setdefault(name, data)
        else:
            assert data is queue
            into.append((name, None, None))

    async def note_async(data: object, name: str) -> None:
        await asyncio.sleep(0)  # runs as a task of its own, after the emit
        seen_async.append((name, data.id if isinstance(data, Job) else None))

    for name in SEED_EVENTS:
        queue.on(name, functools.partial(note, seen_sync, name))
        queue.on(name, functools.partial(note_async, name=name))

    @queue.handler("flaky", retry_delay=0.01)
    async def flaky(job):
        await job.progress(50, f"attempt {job.attempts}")
        if job.attempts == 1:
            raise ValueError("first attempt fails")
        return "done"

    @queue.handler("doomed", max_retries=0)
    def doomed(job):
        raise RuntimeError("never works")

    await queue.start()
    flaky_id = await queue.enqueue("flaky")
    doomed_id = await queue.enqueue("doomed")
    await queue.wait(flaky_id, timeout=5)
    await queue.wait(doomed_id, timeout=5)
    await queue.stop()  # also waits for async callbacks still running

    flaky_events = [(name, status) for name, job_id, status in seen_sync if job_id == flaky_id]
    assert flaky_events == [
        ("job:added", JobStatus.PENDING),
        ("job:started", JobStatus.PROCESSING),
        ("job:progress", JobStatus.PROCESSING),
        ("job:retrying", JobStatus.SCHEDULED),
        ("job:started", JobStatus.PROCESSING),
        ("job:progress", JobStatus.PROCESSING),
        ("job:completed", JobStatus.COMPLETED),
    ]
    doomed_events = [(name, status) for name, job_id, status in seen_sync if job_id == doomed_id]
    assert doomed_events == [
        ("job:added", JobStatus.PENDING),
        ("job:started", JobStatus.PROCESSING),
        ("job:failed", JobStatus.FAILED),
    ]
    assert seen_sync[0] == ("queue:started", None, None)
    assert seen_sync[-1] == ("queue:stopped", None, None)
    assert sorted(seen_async, key=str) == sorted(
        ((name, job_id) for name, job_id, _ in seen_sync), key=str
    )
    assert {name for name, _, _ in seen_sync} == set(SEED_EVENTS)

    progress = payloads["job:progress"]
    assert isinstance(progress, Job)
    assert (progress.progress_percent, progress.progress_message) == (50.0, "attempt 1")
    failed = payloads["job:failed"]
    assert isinstance(failed, Job)
    assert failed.error == "RuntimeError: never works"
    retrying = payloads["job:retrying"]
    assert isinstance(retrying, Job)
    assert retrying.error == "ValueError: first attempt fails"
    completed = payloads["job:completed"]
    assert isinstance(completed, Job)
    assert completed.result == "done"
    assert completed.completed_at is not None
    assert failed.completed_at is not None


async def test_a_raising_callback_is_logged_and_breaks_nothing(
    make_queue: QueueFactory, caplog: pytest.LogCaptureFixture
) -> None:
    queue = make_queue(workers=1)
    completed: list[str] = []

    def broken(job: Job) -> None:
        raise RuntimeError("sync callback broke")

    async def broken_async(job: Job) -> None:
        raise RuntimeError("async callback broke")

    queue.on("job:started", broken).on("job:started", broken_async)
    queue.on("job:completed", broken).on("job:completed", broken_async)
    queue.on("job:completed", lambda job: completed.append(job.id))
    queue.register("job", lambda job: job.payload)

    caplog.set_level(logging.ERROR, logger="conveyor.events")
    await queue.start()
    first = await queue.wait(await queue.enqueue("job", 1), timeout=5)
    second = await queue.wait(await queue.enqueue("job", 2), timeout=5)
    assert (first.status, first.result) == (JobStatus.COMPLETED, 1)
    assert (second.status, second.result) == (JobStatus.COMPLETED, 2)
    # wait() may return as soon as the outcome is stored, a moment before the event.
    await eventually(lambda: completed == [first.id, second.id], "both job:completed events")

    def logged(text: str) -> int:
        return sum(
            1
            for r in caplog.records
            if r.name == "conveyor.events" and r.exc_info and str(r.exc_info[1]) == text
        )

    await eventually(lambda: logged("async callback broke") == 4, "the async errors logged")
    await eventually(lambda: logged("sync callback broke") == 4, "the sync errors logged")
    await queue.stop()  # drains running callbacks: no (wrong) extra call can come later
    assert (logged("sync callback broke"), logged("async callback broke")) == (4, 4)


async def test_off_removes_a_callback(make_queue: QueueFactory) -> None:
    queue = make_queue(workers=1)
    seen: list[str] = []

    def callback(job: Job) -> None:
        seen.append(job.id)

    queue.register("job", lambda job: None)
    queue.on("job:completed", callback)
    await queue.start()
    first = await queue.enqueue("job")
    await queue.wait(first, timeout=5)
    await eventually(lambda: seen == [first], "the first job:completed event")
    queue.off("job:completed", callback)
    await queue.wait(await queue.enqueue("job"), timeout=5)
    await queue.stop()  # every event of the second job has been emitted by now
    assert seen == [first]


async def test_a_job_added_here_is_announced_before_this_process_starts_it(
    make_queue: QueueFactory,
) -> None:
    # The worker can claim and start a job before the enqueuing coroutine has read the
    # store's reply (on Redis its bell wakes the worker in the same script); its
    # job:started waits for that job's job:added.
    queue = make_queue(workers=1)
    seen: list[tuple[str, str]] = []
    queue.on("job:added", lambda job: seen.append(("job:added", job.id)))
    queue.on("job:started", lambda job: seen.append(("job:started", job.id)))

    @queue.handler("job")
    async def job(job):
        pass

    await queue.start()
    for _ in range(60):
        job_id = await queue.enqueue("job")
        await queue.wait(job_id, timeout=5)
        assert [name for name, of in seen if of == job_id] == ["job:added", "job:started"]
        await asyncio.sleep(0.005)  # the worker goes idle: the next job wakes it


async def test_progress_from_an_async_handler_is_stored(make_queue: QueueFactory) -> None:
    queue = make_queue(workers=1)
    gate = asyncio.Event()
    reported: list[tuple[float | None, str | None]] = []
    queue.on("job:progress", lambda job: reported.append((job.progress_percent,
                                                          job.progress_message)))  # fmt: skip

    @queue.handler("job")
    async def handle(job):
        await job.progress(40, "reading")
        await gate.wait()
        await job.progress(100)
        return "ok"

    await queue.start()
    job_id = await queue.enqueue("job")

    async def midway() -> Job | None:
        job = await queue.get_job(job_id)
        return job if job and job.progress_percent == 40 else None

    running = await eventually(midway, "progress 40 to be visible")
    assert (running.status, running.progress_message) == (JobStatus.PROCESSING, "reading")
    gate.set()
    done = await queue.wait(job_id, timeout=5)
    assert (done.progress_percent, done.progress_message) == (100.0, None)
    assert reported == [(40.0, "reading"), (100.0, None)]


async def test_progress_from_a_plain_handler_is_stored(make_queue: QueueFactory) -> None:
    queue = make_queue(workers=1)
    gate = threading.Event()
    reported: list[float | None] = []
    queue.on("job:progress", lambda job: reported.append(job.progress_percent))

    @queue.handler("job")
    def handle(job):
        job.sync.progress(60, "halfway")
        gate.wait(10)
        return "ok"

    await queue.start()
    try:
        job_id = await queue.enqueue("job")

        async def midway() -> Job | None:
            job = await queue.get_job(job_id)
            return job if job and job.progress_percent == 60 else None

        running = await eventually(midway, "progress 60 to be visible")
        assert (running.status, running.progress_message) == (JobStatus.PROCESSING, "halfway")
        # The store can answer the reader before the worker's coroutine resumes to emit.
        await eventually(lambda: reported, "job:progress to be emitted")
        assert reported == [60.0]
    finally:
        gate.set()
    done = await queue.wait(job_id, timeout=5)
    assert (done.status, done.progress_percent) == (JobStatus.COMPLETED, 60.0)


async def test_a_new_attempt_starts_without_the_last_attempts_progress(
    make_queue: QueueFactory,
) -> None:
    queue = make_queue(workers=1)
    seen_at_start: list[float | None] = []

    @queue.handler("job", retry_delay=0.01)
    async def handle(job):
        seen_at_start.append(job.progress_percent)
        await job.progress(50, "half")
        if job.attempts == 1:
            raise ValueError("again")

    await queue.start()
    await queue.wait(await queue.enqueue("job"), timeout=5)
    assert seen_at_start == [None, None]


async def test_plain_handlers_run_on_a_thread_and_async_ones_on_the_loop(
    make_queue: QueueFactory,
) -> None:
    queue = make_queue(workers=2)
    loop_thread = threading.get_ident()
    barrier = threading.Barrier(2, timeout=5)

    @queue.handler("plain")
    def plain(job):
        barrier.wait()  # both plain jobs run at once, neither blocks the loop
        return threading.get_ident()

    @queue.handler("coroutine")
    async def coroutine(job):
        return threading.get_ident()

    await queue.start()
    ids = await queue.enqueue_many([("plain", None), ("plain", None), ("coroutine", None)])
    first, second, third = [await queue.wait(job_id, timeout=10) for job_id in ids]
    assert first.status is second.status is JobStatus.COMPLETED, (first.error, second.error)
    assert loop_thread not in (first.result, second.result)
    assert first.result != second.result
    assert third.result == loop_thread


async def test_queue_events_carry_the_queue(make_queue: QueueFactory) -> None:
    queue = make_queue()
    seen: list[tuple[str, Queue]] = []
    queue.on("queue:started", lambda q: seen.append(("started", q)))
    queue.on("queue:stopped", lambda q: seen.append(("stopped", q)))
    await queue.start()
    await queue.stop()
    assert seen == [("started", queue), ("stopped", queue)]
