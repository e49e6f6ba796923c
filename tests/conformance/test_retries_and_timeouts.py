"""Retries (max_retries, retry_delay, backoff policies) and time limits."""

from __future__ import annotations

import asyncio
import threading
import time

from conftest import QueueFactory
from conveyor import Exponential, Fixed, JobStatus
from testkit import wait_for_status


class Flaky:
    """A handler body that fails its first ``failures`` attempts, noting when each ran."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.starts: list[float] = []
        self.failed_at: list[float] = []
        self.attempts: list[int] = []

    def __call__(self, job) -> str:
        self.starts.append(time.time())
        self.attempts.append(job.attempts)
        if len(self.starts) <= self.failures:
            self.failed_at.append(time.time())
            raise ValueError(f"boom {job.attempts}")
        return "ok"

    def gaps(self) -> list[float]:
        """Seconds between each failure and the start of the next attempt."""
        return [b - a for a, b in zip(self.failed_at, self.starts[1:], strict=False)]


async def test_max_retries_counts_extra_attempts(make_queue: QueueFactory) -> None:
    queue = make_queue(workers=2)
    always = Flaky(failures=100)
    once = Flaky(failures=100)
    queue.register("always", always, retry_delay=0.01)
    queue.register("once", once, retry_delay=0.01)

    always_id = await queue.enqueue("always", max_retries=3)
    once_id = await queue.enqueue("once", max_retries=0)
    await queue.start()
    job = await queue.wait(always_id, timeout=10)
    single = await queue.wait(once_id, timeout=10)

    assert job.status is JobStatus.FAILED
    assert job.attempts == 4
    assert always.attempts == [1, 2, 3, 4]
    assert job.error == "ValueError: boom 4"
    assert job.traceback is not None
    assert "Traceback (most recent call last)" in job.traceback
    assert "ValueError: boom 4" in job.traceback
    assert job.completed_at is not None
    assert (single.status, single.attempts, once.attempts) == (JobStatus.FAILED, 1, [1])
    assert single.error == "ValueError: boom 1"


async def test_a_job_that_recovers_completes_with_its_attempts_counted(
    make_queue: QueueFactory,
) -> None:
    queue = make_queue(workers=1)
    flaky = Flaky(failures=2)
    queue.register("flaky", flaky, retry_delay=0.01)
    await queue.start()
    job = await queue.wait(await queue.enqueue("flaky", max_retries=3), timeout=10)
    assert (job.status, job.attempts, job.result) == (JobStatus.COMPLETED, 3, "ok")


async def test_a_retry_is_scheduled_and_waits_out_its_delay(make_queue: QueueFactory) -> None:
    queue = make_queue(workers=1)
    flaky = Flaky(failures=1)
    queue.register("flaky", flaky)
    await queue.start()
    job_id = await queue.enqueue("flaky", retry_delay=0.5)

    waiting = await wait_for_status(queue, job_id, JobStatus.SCHEDULED, timeout=5)
    assert waiting.attempts == 1
    assert waiting.error == "ValueError: boom 1"
    assert len(flaky.starts) == 1
    job = await queue.wait(job_id, timeout=5)
    assert (job.status, job.attempts) == (JobStatus.COMPLETED, 2)
    assert flaky.gaps()[0] >= 0.5


async def test_fixed_backoff_per_job(make_queue: QueueFactory) -> None:
    queue = make_queue(workers=1)
    flaky = Flaky(failures=2)
    queue.register("flaky", flaky)  # default retry_delay: 1 s
    await queue.start()
    job_id = await queue.enqueue("flaky", retry_delay=Fixed(0.1))
    job = await queue.wait(job_id, timeout=10)
    assert job.status is JobStatus.COMPLETED
    assert job.config.backoff == Fixed(0.1)
    assert all(0.1 <= gap < 0.6 for gap in flaky.gaps()), flaky.gaps()


async def test_exponential_backoff_on_the_handler(make_queue: QueueFactory) -> None:
    queue = make_queue(workers=1)
    flaky = Flaky(failures=3)
    policy = Exponential(base=0.05, factor=2, max_delay=0.15, jitter=False)
    queue.register("flaky", flaky, retry_delay=policy)
    await queue.start()
    job = await queue.wait(await queue.enqueue("flaky"), timeout=10)
    assert (job.status, job.attempts) == (JobStatus.COMPLETED, 4)
    assert job.config.backoff == policy
    expected = [0.05, 0.1, 0.15]  # capped at max_delay; far below the 1 s default
    gaps = flaky.gaps()
    assert len(gaps) == 3
    assert all(low <= gap < low + 0.5 for low, gap in zip(expected, gaps, strict=True)), gaps


async def test_a_callable_backoff_on_the_handler(make_queue: QueueFactory) -> None:
    queue = make_queue(workers=1)
    flaky = Flaky(failures=2)
    calls: list[tuple[int, str]] = []

    def delay(attempt: int, job) -> float:
        calls.append((attempt, job.id))
        return 0.1 * attempt

    queue.register("flaky", flaky, retry_delay=delay)
    await queue.start()
    job_id = await queue.enqueue("flaky")
    job = await queue.wait(job_id, timeout=10)
    assert job.status is JobStatus.COMPLETED
    assert calls == [(1, job_id), (2, job_id)]
    gaps = flaky.gaps()
    assert 0.1 <= gaps[0] < 0.6, gaps
    assert 0.2 <= gaps[1] < 0.7, gaps


async def test_a_per_job_retry_delay_overrides_the_handlers_callable(
    make_queue: QueueFactory,
) -> None:
    queue = make_queue(workers=1)
    flaky = Flaky(failures=1)
    queue.register("flaky", flaky, retry_delay=lambda attempt, job: 60)
    await queue.start()
    job = await queue.wait(await queue.enqueue("flaky", retry_delay=0.05), timeout=5)
    assert (job.status, job.attempts) == (JobStatus.COMPLETED, 2)
    assert 0.05 <= flaky.gaps()[0] < 1


async def test_an_async_handler_is_cancelled_at_its_timeout_and_retried(
    make_queue: QueueFactory,
) -> None:
    queue = make_queue(workers=1)
    cancelled: list[int] = []

    @queue.handler("slow", retry_delay=0.01)
    async def slow(job):
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(job.attempts)
            raise

    retrying: list[str] = []
    queue.on("job:retrying", lambda job: retrying.append(job.error))
    await queue.start()
    began = time.monotonic()
    job = await queue.wait(await queue.enqueue("slow", timeout=0.2, max_retries=1), timeout=10)
    assert time.monotonic() - began < 5
    assert (job.status, job.attempts) == (JobStatus.FAILED, 2)
    assert job.error is not None
    assert "JobTimeoutError" in job.error
    assert "timed out after 0.2 s" in job.error
    assert cancelled == [1, 2]
    assert len(retrying) == 1
    assert "timed out" in retrying[0]


async def test_a_plain_handler_is_failed_at_its_timeout(make_queue: QueueFactory) -> None:
    queue = make_queue(workers=1)
    release = threading.Event()
    returned = threading.Event()

    @queue.handler("slow")
    def slow(job):
        release.wait(10)
        returned.set()
        return "too late"

    await queue.start()
    try:
        began = time.monotonic()
        job_id = await queue.enqueue("slow", timeout=0.2, max_retries=0)
        job = await queue.wait(job_id, timeout=5)
        assert time.monotonic() - began < 3
        assert (job.status, job.attempts) == (JobStatus.FAILED, 1)
        assert job.error is not None
        assert "timed out after 0.2 s" in job.error
    finally:
        release.set()
    assert returned.wait(5)
    job = await queue.get_job(job_id)
    assert job is not None
    assert (job.status, job.result) == (JobStatus.FAILED, None)  # the late result is discarded
