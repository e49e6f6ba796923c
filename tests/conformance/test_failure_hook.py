"""A handler's ``on_failure`` hook runs once, when a job fails for good (not on retries),
plain or async, and a hook that raises is logged without harming the worker."""

from __future__ import annotations

import asyncio

import pytest

from conftest import QueueFactory
from conveyor import HandlerRegistrationError, Job, JobStatus


async def test_the_hook_runs_once_when_the_job_fails_for_good(make_queue: QueueFactory) -> None:
    queue = make_queue(workers=2)
    seen: list[tuple[str, int, str]] = []
    done = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_failure(job: Job) -> None:  # a plain hook: runs on a worker thread
        seen.append((job.id, job.attempts, job.status.value))
        loop.call_soon_threadsafe(done.set)

    @queue.handler("flaky", max_retries=2, retry_delay=0, on_failure=on_failure)
    async def flaky(job: Job) -> None:
        raise RuntimeError("always")

    queue.register("fine", lambda job: None, on_failure=on_failure)
    await queue.start()
    job_id = await queue.enqueue("flaky")
    fine = await queue.enqueue("fine")
    assert (await queue.wait(job_id, timeout=10)).status is JobStatus.FAILED
    await queue.wait(fine, timeout=10)
    await asyncio.wait_for(done.wait(), 5)
    await asyncio.sleep(0.1)
    assert seen == [(job_id, 3, "failed")]


async def test_an_async_hook_that_raises_is_logged(
    make_queue: QueueFactory, caplog: pytest.LogCaptureFixture
) -> None:
    queue = make_queue()
    called = asyncio.Event()

    async def on_failure(job: Job) -> None:
        called.set()
        raise ValueError("hook broke")

    queue.register("bad", lambda job: 1 / 0, max_retries=0, on_failure=on_failure)
    await queue.start()
    await queue.wait(await queue.enqueue("bad"), timeout=10)
    await asyncio.wait_for(called.wait(), 5)
    await asyncio.sleep(0.05)
    assert "on_failure hook of 'bad' raised" in caplog.text
    ok = await queue.enqueue("bad")  # the worker goes on
    assert (await queue.wait(ok, timeout=10)).status is JobStatus.FAILED


def test_the_hook_must_be_callable(make_queue: QueueFactory) -> None:
    with pytest.raises(HandlerRegistrationError, match="on_failure"):
        make_queue().register("x", lambda job: None, on_failure="notify")
