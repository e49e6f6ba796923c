"""Fairness: with age_after, a steady stream of HIGH jobs no longer starves a LOW one."""

from __future__ import annotations

import asyncio
import time

import pytest

from conftest import QueueFactory
from conveyor import Job, JobPriority, JobStatus
from conveyor.errors import ConfigurationError

HIGH = ("work", "high", {"priority": JobPriority.HIGH})
BACKLOG = 40
"""HIGH jobs kept waiting: at 5 ms each, the test may stall 200 ms before they run out."""


async def low_job_waits(
    make_queue: QueueFactory, age_after: float | None, within: float
) -> float | None:
    """Run a LOW job under a steady stream of HIGH ones; return when it started, if it did."""
    queue = make_queue(workers=1, age_after=age_after)
    started: dict[str, float] = {}

    @queue.handler("work")
    async def work(job: Job) -> None:
        if job.payload == "low":
            started["low"] = time.monotonic()
        await asyncio.sleep(0.005)

    await queue.enqueue_many([HIGH] * BACKLOG)
    low = await queue.enqueue("work", "low", priority=JobPriority.LOW)
    begun = time.monotonic()
    await queue.start()
    try:
        while time.monotonic() - begun < within and "low" not in started:
            if (await queue.get_stats()).pending < BACKLOG:  # HIGH jobs never run out
                await queue.enqueue_many([HIGH] * BACKLOG)
            await asyncio.sleep(0.01)
    finally:
        await queue.stop(timeout=2.0)
    job = await queue.get_job(low)
    assert job is not None
    if "low" in started:
        assert job.status is JobStatus.COMPLETED
        assert job.config.priority > JobPriority.LOW  # it went up, level by level
        return started["low"] - begun
    return None


async def test_strict_priority_starves_a_low_job(make_queue: QueueFactory) -> None:
    assert await low_job_waits(make_queue, age_after=None, within=1.0) is None


async def test_aging_lets_a_low_job_through(make_queue: QueueFactory) -> None:
    waited = await low_job_waits(make_queue, age_after=0.2, within=5.0)
    assert waited is not None, "the LOW job never ran"
    assert waited > 0.3  # it had to go up three levels first


def test_a_bad_age_after_is_refused(make_queue: QueueFactory) -> None:
    with pytest.raises(ConfigurationError, match="age_after"):
        make_queue(age_after=0)
