"""Jobs that wait for others (depends_on, groups), and the postponed outcome, on every store."""

from __future__ import annotations

import asyncio

import pytest

from conftest import QueueFactory
from conveyor import Job, JobStatus
from conveyor.errors import InvalidJobError
from conveyor.stores import Outcome


async def test_a_postponed_attempt_is_given_back_and_waits(make_queue: QueueFactory) -> None:
    queue = make_queue()
    job_id = await queue.enqueue("job")
    [claimed] = await queue.store.claim([queue.name], 1, "w", 30.0)
    assert claimed.attempts == 1
    postponed = Outcome(job_id, "w", 1, JobStatus.SCHEDULED, retry_delay=60.0, postponed=True)
    assert await queue.store.settle([postponed]) == [True]
    job = await queue.get_job(job_id)
    assert job is not None
    assert (job.status, job.attempts) == (JobStatus.SCHEDULED, 0)
    assert await queue.store.claim([queue.name], 1, "w", 30.0) == []  # not before its time


async def test_a_job_runs_only_after_its_dependencies_completed(make_queue: QueueFactory) -> None:
    queue = make_queue(workers=2)
    release = asyncio.Event()
    ran: list[str] = []

    @queue.handler("extract")
    async def extract(job: Job) -> str:
        await release.wait()
        ran.append("extract")
        return "rows"

    @queue.handler("load")
    async def load(job: Job) -> str:
        ran.append("load")
        return "loaded"

    first = await queue.enqueue("extract")
    then = await queue.enqueue("load", depends_on=[first])
    await queue.start()
    await asyncio.sleep(0.5)  # load is claimed and postponed meanwhile, more than once
    job = await queue.get_job(then)
    assert job is not None
    assert job.status in (JobStatus.SCHEDULED, JobStatus.PROCESSING)
    assert ran == []
    release.set()
    done = await queue.wait(then, timeout=15)
    assert (done.status, done.attempts, done.result) == (JobStatus.COMPLETED, 1, "loaded")
    assert ran == ["extract", "load"]


async def test_a_failed_dependency_cancels_the_job_without_running_it(
    make_queue: QueueFactory,
) -> None:
    queue = make_queue(workers=2)
    ran: list[str] = []

    @queue.handler("extract", max_retries=0)
    async def extract(job: Job) -> None:
        raise RuntimeError("source is down")

    @queue.handler("load")
    async def load(job: Job) -> None:
        ran.append("load")

    first = await queue.enqueue("extract")
    then = await queue.enqueue("load", depends_on=[first])
    gone = await queue.enqueue("load", depends_on=["no-such-job"])
    await queue.start()
    done = await queue.wait(then, timeout=15)
    assert done.status is JobStatus.CANCELLED
    assert done.error == f"not run: dependency {first} is failed"
    missing = await queue.wait(gone, timeout=15)
    assert missing.status is JobStatus.CANCELLED
    assert "does not exist" in (missing.error or "")
    assert ran == []


async def test_a_group_gives_its_final_job_every_result_in_order(
    make_queue: QueueFactory,
) -> None:
    queue = make_queue(workers=4)

    @queue.handler("square")
    async def square(job: Job) -> int:
        await asyncio.sleep(0.05 * (3 - job.payload))  # the last ones finish first
        return int(job.payload) ** 2

    @queue.handler("collect")
    def collect(job: Job) -> list[int]:
        return list(job.payload)

    ids, final = await queue.group([("square", n) for n in range(4)], ("collect", {"priority": 3}))
    assert len(ids) == 4
    await queue.start()
    done = await queue.wait(final, timeout=15)
    assert (done.status, done.result) == (JobStatus.COMPLETED, [0, 1, 4, 9])


@pytest.mark.parametrize(
    ("depends_on", "message"),
    [("abc", "must be a list"), ([], "1 to"), ([7], "job ids \\(strings\\)")],
)
async def test_bad_dependencies_are_refused(
    make_queue: QueueFactory, depends_on: object, message: str
) -> None:
    queue = make_queue()
    with pytest.raises(InvalidJobError, match=message):
        await queue.enqueue("job", depends_on=depends_on)  # type: ignore[arg-type]
    with pytest.raises(InvalidJobError, match="at least one job"):
        await queue.group([], "collect")
    assert (await queue.get_stats()).total == 0
