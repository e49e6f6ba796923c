"""Chains: each step runs after the one before, given its result, on every store."""

from __future__ import annotations

import asyncio

import pytest

from conftest import QueueFactory
from conveyor import Job, JobStatus, Queue
from conveyor.errors import InvalidJobError, UnknownJobError


def arithmetic(queue: Queue, *, broken: dict[str, bool] | None = None) -> list[Job]:
    """Register add → double → describe; return the list completed jobs land in."""
    completed: list[Job] = []
    queue.on("job:completed", completed.append)
    flags = broken if broken is not None else {}

    @queue.handler("add", max_retries=0)
    async def add(job: Job) -> int:
        return int(job.payload["a"] + job.payload["b"])

    @queue.handler("double", max_retries=0)
    async def double(job: Job) -> int:
        if flags.get("double"):
            raise RuntimeError("double is broken")
        return int(job.payload) * 2

    @queue.handler("describe", max_retries=0)
    def describe(job: Job) -> str:
        return f"the answer is {job.payload}"

    return completed


async def until(predicate: object, what: str, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.01)


async def test_each_step_gets_the_previous_result(make_queue: QueueFactory) -> None:
    queue = make_queue(workers=2)
    completed = arithmetic(queue)
    first = await queue.chain(("add", {"a": 20, "b": 1}), "double", ("describe", {"priority": 3}))
    assert (await queue.get_stats()).total == 1  # only the first step exists yet
    await queue.start()
    await until(lambda: len(completed) == 3, "three steps")
    by_name = {job.name: job for job in completed}
    # In the order they ran: a step may be stored as completed after the next one (its
    # successor is enqueued, and may run, before its own outcome is written).
    starts = {job.name: job.started_at for job in completed}
    assert None not in starts.values()
    in_order = sorted(completed, key=lambda job: starts[job.name])  # type: ignore[arg-type,return-value]
    assert [job.name for job in in_order] == ["add", "double", "describe"]
    assert by_name["add"].id == first
    assert (by_name["double"].payload, by_name["describe"].payload) == (21, 42)
    last = await queue.get_job(by_name["describe"].id)
    assert last is not None
    assert (last.result, last.config.priority.value) == ("the answer is 42", 3)


async def test_a_failed_step_ends_the_chain_and_retrying_it_resumes(
    make_queue: QueueFactory,
) -> None:
    queue = make_queue(workers=1)
    broken = {"double": True}
    completed = arithmetic(queue, broken=broken)
    await queue.chain(("add", {"a": 1, "b": 2}), "double", "describe")
    await queue.start()
    await until(lambda: [j.name for j in completed] == ["add"], "the first step")
    [failed] = await _eventually_failed(queue)
    await asyncio.sleep(0.2)
    stats = await queue.get_stats()
    assert (stats.completed, stats.failed, stats.total) == (1, 1, 2)  # describe never added

    broken["double"] = False
    assert await queue.retry_job(failed.id)
    await until(lambda: len(completed) == 3, "the rest of the chain")
    assert {job.name: job.result for job in completed}["describe"] == "the answer is 6"


async def _eventually_failed(queue: Queue) -> list[Job]:
    for _ in range(1000):
        failed = await queue.get_jobs_by_status(JobStatus.FAILED)
        if failed:
            return failed
        await asyncio.sleep(0.01)
    raise AssertionError("no step failed")


async def test_a_step_continued_twice_is_enqueued_once(make_queue: QueueFactory) -> None:
    """A worker killed after enqueuing the next step but before settling runs the step
    again: its second continuation finds the next step's key taken."""
    queue = make_queue()
    arithmetic(queue)
    first_id = await queue.chain(("add", {"a": 2, "b": 2}), "double")
    first = await queue.get_job(first_id)
    assert first is not None
    await queue._continue_chain(first, 4)
    await queue._continue_chain(first, 4)
    pending = await queue.get_jobs_by_status(JobStatus.PENDING)
    assert sorted(job.name for job in pending) == ["add", "double"]


async def test_bad_chains_are_refused(make_queue: QueueFactory) -> None:
    queue = make_queue()
    arithmetic(queue)
    with pytest.raises(InvalidJobError, match="chain step 1 must be a job name"):
        await queue.chain(("add", {"a": 1, "b": 1}), 42)  # type: ignore[arg-type]
    with pytest.raises(InvalidJobError, match="previous step's result"):
        await queue.chain(("add", {}), ("double", {"payload": 3}))
    with pytest.raises(UnknownJobError, match="'tripple'"):
        await queue.chain(("add", {}), "tripple")
    assert (await queue.get_stats()).total == 0
