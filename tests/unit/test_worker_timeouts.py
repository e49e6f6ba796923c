"""The worker's per-job time limit (``runtime.deadlines``: one timer for all handlers)."""

from __future__ import annotations

import asyncio
import time

import pytest

from conveyor.errors import JobTimeoutError
from conveyor.runtime.deadlines import Deadlines


async def test_a_handler_past_its_limit_is_cancelled_and_times_out() -> None:
    cancelled = asyncio.Event()

    async def slow() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(JobTimeoutError, match=r"job j1 timed out after 0\.05 s"):
        await Deadlines().limit(slow(), 0.05, "j1")
    assert cancelled.is_set()
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0


async def test_a_quick_handler_returns_its_value_and_leaves_no_cancel() -> None:
    async def quick() -> str:
        return "done"

    assert await Deadlines().limit(quick(), 0.05, "j1") == "done"
    await asyncio.sleep(0.1)  # the timer would have cancelled this task by now


async def test_a_cancel_from_elsewhere_stays_a_cancel() -> None:
    started = asyncio.Event()

    async def waits() -> None:
        started.set()
        await asyncio.sleep(10)

    task = asyncio.create_task(Deadlines().limit(waits(), 5.0, "j1"))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_cancel_from_elsewhere_wins_over_a_deadline_passed_with_it() -> None:
    deadlines = Deadlines()
    started = asyncio.Event()

    async def waits() -> None:
        started.set()
        await asyncio.sleep(10)

    task = asyncio.create_task(deadlines.limit(waits(), 0.05, "j1"))
    await started.wait()
    time.sleep(0.06)  # the deadline passes while the loop is held here
    deadlines._fire(asyncio.get_running_loop())  # what its timer does, then at once:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_handlers_own_timeout_error_is_its_failure() -> None:
    async def fails() -> None:
        raise TimeoutError("the handler's own")

    with pytest.raises(TimeoutError, match="the handler's own"):
        await Deadlines().limit(fails(), 5.0, "j1")


async def test_a_handler_that_swallows_the_cancel_returns_normally() -> None:
    async def stubborn() -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            return "kept going"
        return "slept"

    assert await Deadlines().limit(stubborn(), 0.05, "j1") == "kept going"
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0


async def test_one_timer_serves_many_handlers_each_at_its_own_deadline() -> None:
    deadlines = Deadlines()
    loop = asyncio.get_running_loop()
    ended: dict[str, float] = {}

    async def sleeper(name: str, seconds: float) -> str:
        try:
            await asyncio.sleep(seconds)
        finally:
            ended[name] = loop.time()
        return name

    async def limited(name: str, sleep: float, limit: float) -> str:
        try:
            return await deadlines.limit(sleeper(name, sleep), limit, name)
        except JobTimeoutError:
            return f"{name} timed out"

    start = loop.time()
    # A long limit first, then shorter ones: each shorter deadline re-arms the timer.
    outcomes = await asyncio.gather(
        limited("long", 10, 0.3), limited("short", 10, 0.05), limited("quick", 0.01, 0.05),
        limited("mid", 10, 0.15),
    )  # fmt: skip
    assert outcomes == ["long timed out", "short timed out", "quick", "mid timed out"]
    for name, limit in (("short", 0.05), ("mid", 0.15), ("long", 0.3)):
        assert limit <= ended[name] - start < limit + 0.1, (name, ended[name] - start)
    assert deadlines._watched == {}


async def test_the_timer_follows_the_worker_to_a_new_loop() -> None:
    deadlines = Deadlines()

    async def slow() -> None:
        await asyncio.sleep(10)

    def in_new_loop() -> None:
        async def run() -> None:
            with pytest.raises(JobTimeoutError):
                await deadlines.limit(slow(), 0.05, "j2")

        asyncio.run(run())

    async def long_wait() -> None:
        await asyncio.sleep(0.01)

    await deadlines.limit(long_wait(), 60, "j1")  # arms a timer of this loop for 60 s
    await asyncio.to_thread(in_new_loop)
