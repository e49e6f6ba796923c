"""The worker's per-job time limit (``attempt.within``, on ``asyncio.timeout``)."""

from __future__ import annotations

import asyncio

import pytest

from conveyor.errors import JobTimeoutError
from conveyor.runtime.attempt import within


async def test_a_handler_past_its_limit_is_cancelled_and_times_out() -> None:
    cancelled = asyncio.Event()

    async def slow() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(JobTimeoutError, match=r"job j1 timed out after 0\.05 s"):
        await within(slow(), 0.05, "j1")
    assert cancelled.is_set()
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0


async def test_a_quick_handler_returns_its_value_and_leaves_no_timer() -> None:
    async def quick() -> str:
        return "done"

    assert await within(quick(), 0.05, "j1") == "done"
    await asyncio.sleep(0.1)  # the timer would have cancelled this task by now


async def test_a_cancel_from_elsewhere_stays_a_cancel() -> None:
    started = asyncio.Event()

    async def waits() -> None:
        started.set()
        await asyncio.sleep(10)

    task = asyncio.create_task(within(waits(), 5.0, "j1"))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_handlers_own_timeout_error_is_its_failure() -> None:
    async def fails() -> None:
        raise TimeoutError("the handler's own")

    with pytest.raises(TimeoutError, match="the handler's own"):
        await within(fails(), 5.0, "j1")


async def test_a_handler_that_swallows_the_cancel_returns_normally() -> None:
    async def stubborn() -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            return "kept going"
        return "slept"

    assert await within(stubborn(), 0.05, "j1") == "kept going"
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0
