"""Stopping ends every task, even one whose first cancellation was lost on the way."""

from __future__ import annotations

import asyncio
import contextlib

from conveyor import JobStatus, create_queue
from conveyor.runtime.tasks import cancel_and_wait
from testkit import unique_name


async def test_cancel_and_wait_ends_a_task_that_swallowed_its_cancellation() -> None:
    swallowed = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            swallowed.set()
        await asyncio.sleep(30)

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    async with asyncio.timeout(5):
        await cancel_and_wait([task])
    assert swallowed.is_set()
    assert task.cancelled()


async def test_cancel_and_wait_leaves_a_task_alone_while_told_to() -> None:
    finishing = True
    finished = asyncio.Event()

    async def settling() -> None:
        await asyncio.sleep(0.3)
        finished.set()
        await asyncio.sleep(30)

    task = asyncio.create_task(settling())

    def cancel_while(_: asyncio.Task[object]) -> bool:
        return not (finishing and not finished.is_set())

    async with asyncio.timeout(5):
        await cancel_and_wait([task], cancel_while=cancel_while)
    assert finished.is_set()
    assert task.cancelled()


async def test_stop_puts_back_a_job_whose_handler_swallowed_the_first_cancellation() -> None:
    queue = create_queue(url="memory://", workers=1, name=unique_name())
    started = asyncio.Event()

    @queue.handler("stubborn")
    async def stubborn(job: object) -> None:
        started.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(30)
        await asyncio.sleep(30)

    await queue.start()
    job_id = await queue.enqueue("stubborn")
    await asyncio.wait_for(started.wait(), 5)
    async with asyncio.timeout(5):
        await queue.stop(timeout=0.1)
    job = await queue.get_job(job_id)
    assert job is not None
    assert job.status is JobStatus.PENDING
    await queue.close()


async def test_stop_puts_back_a_job_stopped_while_checking_its_dependencies() -> None:
    queue = create_queue(url="memory://", workers=1, name=unique_name())
    queue.register("load", lambda job: "loaded")
    queue.register("extract", lambda job: "rows")
    parent = await queue.enqueue("extract", delay=3600)  # waits: the worker takes the child
    child = await queue.enqueue("load", depends_on=[parent])
    store_get, checking = queue.store.get, asyncio.Event()

    async def slow_get(job_id: str):  # type: ignore[no-untyped-def]
        if job_id == parent:  # the dependency check: it hangs until stop cancels it
            checking.set()
            await asyncio.Event().wait()
        return await store_get(job_id)

    queue.store.get = slow_get  # type: ignore[method-assign]
    await queue.start()
    await asyncio.wait_for(checking.wait(), 5)
    async with asyncio.timeout(5):
        await queue.stop(timeout=0.1)
    del queue.store.get
    job = await queue.get_job(child)
    assert job is not None
    assert (job.status, job.attempts) == (JobStatus.PENDING, 0)
    await queue.close()
