"""Jobs enqueued without options reuse their name's settings, worked out on the first one."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

import pytest

from conveyor import JobPriority, JobStatus, Queue, UnknownJobError, create_queue
from conveyor.retry import Exponential


@pytest.fixture
async def queue() -> AsyncIterator[Queue]:
    q = create_queue(url="memory://")
    q.register(
        "report",
        lambda job: None,
        priority=JobPriority.HIGH,
        max_retries=7,
        retry_delay=Exponential(base=2.0, max_delay=60.0),
        timeout=math.inf,
    )
    try:
        yield q
    finally:
        await q.close()


def settings(job: object) -> tuple[object, ...]:
    config = job.config  # type: ignore[attr-defined]
    return (job.name, job.queue, job.status, config, job.headers)  # type: ignore[attr-defined]


async def test_every_plain_enqueue_gets_the_handlers_settings(queue: Queue) -> None:
    first, second, third = [await queue.enqueue("report", {"n": n}) for n in range(3)]
    jobs = [await queue.get_job(job_id) for job_id in (first, second, third)]
    assert [job.payload for job in jobs if job] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert len({first, second, third}) == 3
    assert settings(jobs[0]) == settings(jobs[1]) == settings(jobs[2])
    config = jobs[2].config  # type: ignore[union-attr]
    assert (config.priority, config.max_retries, config.timeout) == (JobPriority.HIGH, 7, None)
    assert jobs[2].status is JobStatus.PENDING  # type: ignore[union-attr]
    assert jobs[0].created_at < jobs[2].created_at  # type: ignore[union-attr]


async def test_options_and_headers_of_one_job_do_not_reach_the_next(queue: Queue) -> None:
    first = await queue.enqueue("report", None, priority=JobPriority.LOW, max_retries=1)
    await queue.enqueue("report", None, depends_on=[first])  # the first without options
    delayed = await queue.enqueue("report", None, delay=60)
    after = await queue.get_job(await queue.enqueue("report", None))
    assert after is not None
    assert after.config.priority is JobPriority.HIGH
    assert after.config.max_retries == 7
    assert after.headers == {}
    assert after.status is JobStatus.PENDING
    assert (await queue.get_job(delayed)).status is JobStatus.SCHEDULED  # type: ignore[union-attr]


async def test_a_name_enqueued_before_any_handler_is_refused_once_others_are_registered() -> None:
    producer = create_queue(url="memory://")
    try:
        await producer.enqueue("elsewhere", None)
        await producer.enqueue("elsewhere", None)
        producer.register("local", lambda job: None)
        with pytest.raises(UnknownJobError, match="'elsewhere'"):
            await producer.enqueue("elsewhere", None)
    finally:
        await producer.close()


async def test_a_handler_registered_after_its_name_was_enqueued_brings_its_defaults() -> None:
    producer = create_queue(url="memory://")
    try:
        await producer.enqueue("report", None)
        producer.register("report", lambda job: None, max_retries=9)
        job = await producer.get_job(await producer.enqueue("report", None))
        assert job is not None
        assert job.config.max_retries == 9
    finally:
        await producer.close()
